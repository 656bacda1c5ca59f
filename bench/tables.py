"""Markdown tables of the benchmark records: number formats, mean ± sd over seeds, one row per task."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

from bench import record

Run = dict[str, Any]
Group = tuple[str, str, str]  # model slug, task, budget tag


def stat(values: list[float | None], fmt: Callable[[float], str]) -> str:
    """`mean ± sd` over seeds (sample standard deviation), the value alone for one seed, `n/a` for none."""
    present = [v for v in values if v is not None]
    if not present:
        return "n/a"
    if len(present) == 1:
        return fmt(present[0])
    return f"{fmt(statistics.fmean(present))} ± {fmt(statistics.stdev(present))}"


def figures(runs: list[Run], key: str, fmt: Callable[[float], str]) -> str:
    """One summary field over a strategy's seeds."""
    return stat([r["summary"][key] for r in runs], fmt)


def score(x: float) -> str:
    """A metric value."""
    return f"{x:.3f}"


def count(x: float) -> str:
    """A count that may be a mean."""
    return f"{x:.1f}" if x != int(x) else f"{int(x)}"


def minutes(x: float) -> str:
    """Seconds shown as minutes."""
    return f"{x / 60:.1f}"


def strategy_label(run: Run) -> str:
    """The strategy as tables name it: `aglp-shortlist2` carries its size (older records have no label)."""
    return str(run.get("label") or run["strategy"])


def learned_run(run: Run) -> bool:
    """Whether a run's full model learned, by the current rule (older records stored an older rule's flag)."""
    s = run["summary"]
    return record.learned(s["baseline_score"], s["baseline_report_score"], s["chance_score"])


def budget_label(budget: dict[str, Any]) -> str:
    """Examples x epochs and learning rate, plus the full model's epochs and the candidates' sample if set."""
    text = f"{budget['train_examples']} ex x {budget['epochs']} ep, lr {budget['learning_rate']:g}"
    if budget.get("baseline_epochs") is not None:
        text += f", full model {budget['baseline_epochs']} ep"
    if budget.get("candidate_train_examples") is not None:
        text += f", candidates {budget['candidate_train_examples']} ex"
    if budget.get("repurpose_epochs") is not None:
        text += f", repurpose {budget['repurpose_epochs']} ep"
    if budget.get("selection_examples") is not None:
        text += f", scored on {budget['selection_examples']} selection ex"
    return text


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A GitHub markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(row) + " |" for row in rows]


def label(group: Group, all_groups: list[Group]) -> str:
    """The task name, with model and budget added only where they are needed to tell rows apart."""
    model, task, tag = group
    if sum(1 for g in all_groups if g[1] == task) == 1:
        return task
    return f"{task} ({tag})" if len({g[0] for g in all_groups}) == 1 else f"{task} ({model}, {tag})"


def per_seed(runs: list[Run], key: str) -> list[float]:
    """A summary field averaged per seed: every strategy of a seed shares one baseline, so count it once."""
    values: dict[int, list[float]] = defaultdict(list)
    for run in runs:
        values[run["seed"]].append(run["summary"][key])
    return [statistics.fmean(v) for _, v in sorted(values.items())]


def baseline_rows(groups: dict[Group, dict[str, list[Run]]]) -> list[list[str]]:
    """Per task: metric, budget, seeds, baseline scores next to chance, and whether the model learned."""
    rows = []
    for group, by_strategy in groups.items():
        runs = [r for rs in by_strategy.values() for r in rs]
        seeds = sorted({r["seed"] for r in runs})
        budget = runs[0]["budget"]
        learned = {learned_run(r) for r in runs}
        flag = "yes" if learned == {True} else "**NO**" if learned == {False} else "mixed"
        rows.append(
            [
                label(group, list(groups)),
                runs[0]["summary"]["metric"],
                f"{budget_label(budget)}, batch {budget['batch_size']}, len {budget['max_length']}",
                ",".join(map(str, seeds)),
                stat(list(per_seed(runs, "baseline_score")), score),
                stat(list(per_seed(runs, "baseline_report_score")), score),
                stat(list(per_seed(runs, "chance_score")), score),
                flag,
            ]
        )
    return rows


def strategy_rows(groups: dict[Group, dict[str, list[Run]]], strategies: Sequence[str]) -> list[list[str]]:
    """Per task, a column group per strategy: layers removed, scores, retention, cost and speed-up."""
    rows = []
    for group, by_strategy in groups.items():
        row = [label(group, list(groups))]
        for strategy in strategies:
            runs = by_strategy.get(strategy, [])
            if not runs:
                row += ["n/a"] * 6
                continue
            row += [
                f"{figures(runs, 'layers_removed', count)} of {runs[0]['summary']['layers_total']}",
                f"{figures(runs, 'score', score)} / {figures(runs, 'report_score', score)}",
                figures(runs, "retained_fraction", score),
                figures(runs, "fine_tunes", count),
                figures(runs, "seconds", minutes),
                figures(runs, "speedup", lambda x: f"{x:.2f}x"),
            ]
        rows.append(row)
    return rows


def baseline_seconds(run: Run) -> float:
    """The run's seconds outside its rounds: the baseline fine-tune, even one reused from the cache."""
    return float(run["summary"]["seconds"] - sum(r["seconds"] for r in run["result"]["rounds"]))


def cost_rows(groups: dict[Group, dict[str, list[Run]]]) -> list[list[str]]:
    """Per task and strategy: the unit costs a planner needs (baseline and per-candidate seconds)."""
    rows = []
    for group, by_strategy in groups.items():
        for strategy, runs in sorted(by_strategy.items()):
            timing = [r["timing"] for r in runs]
            latency = [r["latency"] for r in runs if r.get("latency")]
            rows.append(
                [
                    label(group, list(groups)),
                    strategy,
                    str(len(runs)),
                    stat([baseline_seconds(r) for r in runs], lambda x: f"{x:.0f}"),
                    stat([t["candidate_seconds_median"] for t in timing], lambda x: f"{x:.0f}"),
                    figures(runs, "train_examples", count),
                    stat([lat["full_ms"] for lat in latency], lambda x: f"{x:.0f}"),
                    stat([lat["pruned_ms"] for lat in latency], lambda x: f"{x:.0f}"),
                    stat([lat["pruned_examples_per_s"] for lat in latency], lambda x: f"{x:.0f}"),
                    figures(runs, "parameters_after", lambda x: f"{x / 1e6:.2f}M"),
                ]
            )
    return rows


def probe_rows(probes: list[Run], margin: float) -> list[list[str]]:
    """One row per full-model probe: its budget, scores against chance, loss and class collapse."""
    rows = []
    for probe in probes:
        budget, sel, rep = probe["budget"], probe["selection"], probe["report"]
        learned = record.learned(sel["score"], rep["score"], probe["chance_score"], margin)
        rows.append(
            [
                probe["task"],
                budget_label(budget),
                str(probe["seed"]),
                f"{score(sel['score'])} / {score(rep['score'])}",
                score(probe["chance_score"]),
                f"{sel['loss']:.3f}",
                f"{sel['top_prediction_share']:.2f}",
                "yes" if learned else "**NO**",
                f"{probe['train_examples_per_s']:.1f}",
            ]
        )
    return rows
