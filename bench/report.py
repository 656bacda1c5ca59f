"""`python -m bench.report`: render docs/results.md and the curve plots from bench/results/*.json only."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

import typer

from bench.faithful_table import faithful_section, is_faithful
from bench.notes import chance_note, tie_note, undertrained_note
from bench.plan import DEFAULT_MODEL_PACKAGE, REPO, STRATEGIES, TASKS
from bench.plots import plot_task
from bench.record import CHANCE_MARGIN
from bench.shortlist_table import shortlist_section
from bench.tables import (
    Group,
    Run,
    baseline_rows,
    cost_rows,
    label,
    learned_run,
    probe_rows,
    strategy_label,
    strategy_rows,
    table,
)

app = typer.Typer(add_completion=False, help=__doc__)


def load_probes(results_dir: Path) -> list[Run]:
    """The full-model budget probes written by `bench.probe`, in task order."""
    probes = [json.loads(path.read_text()) for path in sorted((results_dir / "probes").glob("*.json"))]
    order = {task: i for i, task in enumerate(TASKS)}
    return sorted(probes, key=lambda p: (order.get(p["task"], 99), p["date"]))


def load_runs(results_dir: Path) -> list[Run]:
    """Every finished run's record; partial snapshots and temporary files are ignored."""
    runs = []
    for path in sorted(results_dir.glob("*.json")):
        if path.name.endswith(".partial.json"):
            continue
        data = json.loads(path.read_text())
        if "summary" not in data or "curve" not in data:
            raise ValueError(f"{path} is not a benchmark record (no summary/curve)")
        runs.append(data)
    return runs


def group_runs(runs: list[Run]) -> dict[Group, dict[str, list[Run]]]:
    """Runs by (model, task, budget), then by strategy, in the benchmark's task order."""
    groups: dict[Group, dict[str, list[Run]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        groups[(run["model_slug"], run["task"], run["budget"]["tag"])][strategy_label(run)].append(run)
    order = {task: i for i, task in enumerate(TASKS)}
    return dict(sorted(groups.items(), key=lambda kv: (kv[0][0], order.get(kv[0][1], 99), kv[0][2])))


def claim_lines(groups: dict[Group, dict[str, list[Run]]]) -> list[str]:
    """The paper's claim (AGLP removes more layers than GLP at ≥95%), checked task by task."""
    lines = []
    for group, by_strategy in groups.items():
        means = {
            s: statistics.fmean(r["summary"]["layers_removed"] for r in rs) for s, rs in by_strategy.items()
        }
        name = label(group, list(groups))
        learned = all(learned_run(r) for rs in by_strategy.values() for r in rs)
        if not learned:
            lines.append(
                f"- {name}: the full model did not clearly beat chance at this budget: no comparison."
            )
            continue
        if "aglp" not in means or "glp" not in means:
            lines.append(f"- {name}: AGLP and GLP have not both finished yet.")
            continue
        ratio = f"{means['aglp'] / means['glp']:.2f}x" if means["glp"] else "undefined (GLP removed 0)"
        top = f", top-layer dropping {means['top']:.1f}" if "top" in means else ""
        lines.append(
            f"- {name}: AGLP removed {means['aglp']:.1f} layers, GLP {means['glp']:.1f}{top}; "
            f"AGLP/GLP = {ratio}.{chance_note(by_strategy)}{undertrained_note(by_strategy)}"
            f"{tie_note(by_strategy)}"
        )
    return lines


def optional_flags(budget: dict[str, Any]) -> str:
    """The budget flags that were set away from their defaults (older records lack them)."""
    flags = {"baseline_epochs": "--baseline-epochs", "candidate_train_examples": "--candidate-train-examples"}
    return "".join(f" {flag} {budget[key]}" for key, flag in flags.items() if budget.get(key) is not None)


def shortlist_flag(runs: list[Run]) -> str:
    """`--shortlist 1,2 ` for the shortlist sizes among the runs; empty where none ran."""
    sizes = sorted({r["shortlist"] for r in runs if r.get("shortlist") is not None})
    return f"--shortlist {','.join(map(str, sizes))} " if sizes else ""


def commands(runs: list[Run]) -> list[str]:
    """The `bench.reproduce` command that reruns each (model, budget) group of the finished runs."""
    groups: dict[tuple[str, str, float], list[Run]] = defaultdict(list)
    for run in runs:
        groups[(run["model"], run["budget"]["tag"], run["retention"])].append(run)
    lines = []
    for (model, _, retention), members in sorted(groups.items()):
        budget = members[0]["budget"]
        tasks = [t for t in TASKS if any(r["task"] == t for r in members)]
        seeds = {t: sorted({r["seed"] for r in members if r["task"] == t}) for t in tasks}
        common = sorted(set.intersection(*(set(v) for v in seeds.values())))
        extra = [f"--extra-seeds {t}={','.join(map(str, v))}" for t, v in seeds.items() if v != common]
        flag = "" if model == DEFAULT_MODEL_PACKAGE else f" --model {model}"
        extras = " ".join(extra) or "--extra-seeds ''"  # empty: no task gets more seeds than --seeds
        lines.append(
            f"`python -m bench.reproduce{flag} --tasks {','.join(tasks)} "
            f"--strategies {','.join(sorted({r['strategy'] for r in members}))} "
            f"{shortlist_flag(members)}"
            f"--seeds {','.join(map(str, common)) or '0'} {extras} "
            f"--train-examples {budget['train_examples']} --max-length {budget['max_length']} "
            f"--epochs {budget['epochs']} --learning-rate {budget['learning_rate']:g} "
            f"--batch-size {budget['batch_size']}{optional_flags(budget)} --retention {retention:g}`"
        )
    return lines


def render(results_dir: Path, docs_dir: Path) -> Path:
    """Write docs/results.md and docs/curve-*.png from the JSON records; returns the markdown's path."""
    runs = load_runs(results_dir)
    groups = group_runs(runs)
    strategies = [s for s in STRATEGIES if any(s in g for g in groups.values())]
    machines = sorted(
        {
            f"{r['machine']['cpu']}, {r['machine']['cores']} cores "
            f"(train device {r['machine']['train_device']})"
            for r in runs
        }
    )
    dates = sorted(r["date"] for r in runs)
    out = [
        "# Reproduction results: AGLP vs GLP vs top-layer dropping",
        "",
        "Generated by `python -m bench.report` from the JSON records in `bench/results/` "
        "(produced by `python -m bench.reproduce`); nothing here is typed by hand.",
        "",
    ]
    if not runs:
        out += ["No run has finished yet."]
    else:
        models = sorted({r["model"] for r in runs})
        out += [
            f"- Runs: {len(runs)} finished, {dates[0]} to {dates[-1]} (UTC).",
            f"- Model(s): {', '.join(f'`{m}`' for m in models)}.",
            "- Rerun the finished runs (results resume; existing JSON files are skipped): "
            + "; ".join(commands(runs)),
            f"- Machine(s): {'; '.join(machines)}.",
            f"- Retention threshold: {', '.join(f'{x:g}' for x in sorted({r['retention'] for r in runs}))}, "
            "on the selection half of dev; report scores are on the other half.",
            f"- Learned: on both halves the full model closes at least {CHANCE_MARGIN:.0%} of the gap from "
            "chance to a perfect score: score >= chance + share * (1 - chance).",
            "- `a ± b`: mean and sample standard deviation over seeds.",
            "",
            "## Baselines and chance",
            "",
        ]
        out += table(
            [
                "task",
                "metric",
                "budget",
                "seeds",
                "baseline (selection)",
                "baseline (report)",
                "chance",
                "learned",
            ],
            baseline_rows(groups),
        )
        out += [
            "",
            "## Layers removed at ≥95% retention",
            "",
            "Per strategy: layers removed / total; selection / report score of that model; retained "
            "fraction; fine-tunes (in baseline fine-tune units); wall time (min); CPU inference "
            "speed-up.",
            "",
        ]
        columns = ("removed", "sel / report", "retained", "fine-tunes", "min", "speed-up")
        header = ["task"] + [f"{s} {c}" for s in strategies for c in columns]
        out += table(header, strategy_rows(groups, strategies))
        out += [
            "",
            "## What it says about the claim",
            "",
            *claim_lines(groups),
        ]
        out += faithful_section(groups)
        out += shortlist_section({g: b for g, b in groups.items() if not is_faithful(b)})
        out += [
            "",
            "## Cost and latency",
            "",
            "Seconds per fine-tune (baseline includes loading; candidates include scoring the selection "
            "half). "
            "Latency: median forward time of one batch of real dev inputs on CPU, full vs pruned.",
            "",
        ]
        out += table(
            [
                "task",
                "strategy",
                "seeds",
                "baseline s",
                "candidate s",
                "train examples",
                "full ms",
                "pruned ms",
                "pruned ex/s",
                "params after",
            ],
            cost_rows(groups),
        )
        out += ["", "## Curves", ""]
        drawn: set[str] = set()
        for group, by_strategy in groups.items():
            name = label(group, list(groups))
            slug = name.replace(" ", "").replace("(", "-").replace(")", "").replace(",", "-")
            png = plot_task(f"{name}: score vs layers removed", by_strategy, docs_dir / f"curve-{slug}.png")
            drawn.add(png.name)
            out += [f"![{name}]({png.name})", ""]
        # A task's plot is renamed once it has runs at a second budget: drop the old name's file.
        for stale in docs_dir.glob("curve-*.png"):
            if stale.name not in drawn:
                stale.unlink()
    probes = load_probes(results_dir)
    if probes:
        out += [
            "## Budget probes (full model only)",
            "",
            "`python -m bench.probe` fine-tunes only the full model, to find a budget at which it beats "
            "chance (by the rule above, on both halves) before any pruning run is spent on it. Loss: mean "
            "cross-entropy on the selection half (ln 2 = 0.693 for two classes means nothing was learned); "
            "top share: the fraction of selection inputs given the most frequent prediction "
            "(1.00 = one class for all).",
            "",
        ]
        out += table(
            [
                "task",
                "budget",
                "seed",
                "selection / report",
                "chance",
                "loss",
                "top share",
                "learned",
                "train ex/s",
            ],
            probe_rows(probes, CHANCE_MARGIN),
        )
    path = docs_dir / "results.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(out).rstrip() + "\n")
    return path


@app.command()
def main(
    results_dir: Annotated[Path, typer.Option()] = REPO / "bench" / "results",
    docs_dir: Annotated[Path, typer.Option()] = REPO / "docs",
) -> None:
    """Render the report from whatever runs have finished."""
    typer.echo(f"wrote {render(results_dir, docs_dir)}")


if __name__ == "__main__":
    app()
