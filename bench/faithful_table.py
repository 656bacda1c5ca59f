"""The report's faithful-configuration section: every cheap strategy against AGLP that keeps its winner.

Groups whose budget has `repurpose_epochs = 0` (AGLP keeps each round's winning candidate, as the
authors' code does in effect). Costs are counted to the stop: the baseline plus every round up to and
including the first rejected one, so a run that mapped every depth compares with one that stopped.
"""

from __future__ import annotations

import statistics
from typing import Any

from bench.tables import Group, Run, budget_label, stat, table

CHEAP = ("aglp-shortlist1", "aglp-shortlist2", "aglp-shortlist3", "zs-greedy", "glp", "top")

NOTE = (
    "AGLP here keeps each round's winner (`--repurpose-epochs 0`, what the authors' code does in effect) "
    "and, unless the budget says otherwise, fine-tunes every candidate on the full budget. Cost to the stop: "
    "the baseline and every round up to and including the first that fell below the threshold (the "
    "rounds a real job runs). A shortlist round whose verified candidates all miss the threshold widens "
    "by its shortlist size in zero-shot order until one keeps it or none is left (runs from 2026-12-01 "
    "on; the earlier runs that stopped on the shortlist alone are kept in "
    "`bench/results/archive/stop-on-shortlist/`, not tabulated). % of AGLP: paired by seed. "
    "Winner in zero-shot top m: over AGLP's rounds to "
    "the stop, the share whose fine-tuned winner ranked in the zero-shot top m, i.e. how often a shortlist "
    "of m would have contained AGLP's choice. τ: Kendall τ between the zero-shot ranking and the "
    "fine-tuned scores of the candidates that were fine-tuned (AGLP: all of them), averaged over rounds. "
    "`zs-greedy`: remove layers in the zero-shot greedy order (the engine's `analyze`: drop the layer "
    "whose removal leaves the best untrained selection score, re-rank, repeat); each depth costs one "
    "recovery fine-tune of the fine-tuned full model minus that many layers; it keeps the deepest depth "
    "before the first whose recovered score falls below the threshold. Minutes are wall time on a shared "
    "CPU whose load changed between runs: compare training examples, which are exact."
)


def to_stop(run: Run) -> list[dict[str, Any]]:
    """The rounds a job would have run: up to and including the first rejected one."""
    rounds = run["result"]["rounds"]
    for i, rnd in enumerate(rounds):
        if not rnd["accepted"]:
            return list(rounds[: i + 1])
    return list(rounds)


def cost_to_stop(run: Run) -> tuple[int, float]:
    """Training examples and seconds of the baseline plus the rounds to the stop."""
    rounds, played = run["result"]["rounds"], to_stop(run)
    baseline = run["summary"]["train_examples"] - sum(r["train_examples"] for r in rounds)
    after = sum(r["seconds"] for r in rounds[len(played) :])
    return baseline + sum(r["train_examples"] for r in played), run["summary"]["seconds"] - after


def full_budget_examples(run: Run) -> int:
    """Examples to the stop had every verified candidate fine-tuned on the whole training budget."""
    budget, rounds = run["budget"], run["result"]["rounds"]
    baseline = run["summary"]["train_examples"] - sum(r["train_examples"] for r in rounds)
    per_candidate = budget["train_examples"] * budget["epochs"]
    repurpose = budget["train_examples"] * (budget.get("repurpose_epochs") or 0)
    total = baseline
    for rnd in to_stop(run):
        verified = sum(1 for c in rnd["candidates"] if c.get("score") is not None)
        total += rnd["train_examples"] if verified == 0 else verified * per_candidate + repurpose
    return total


def zero_shot_rank(rnd: dict[str, Any]) -> int | None:
    """1-based place of the round's removed layer in its zero-shot order; None without zero-shot scores."""
    scored = [c for c in rnd["candidates"] if c.get("zero_shot_score") is not None]
    if not scored or rnd["removed_layer"] is None:
        return None
    order = sorted(scored, key=lambda c: (-c["zero_shot_score"], c["zero_shot_loss"], c["layer"]))
    return next((i + 1 for i, c in enumerate(order) if c["layer"] == rnd["removed_layer"]), None)


def mean_tau(runs: list[Run]) -> float | None:
    """Kendall τ over every round to the stop of these runs that has one."""
    taus = [r["kendall_tau"] for run in runs for r in to_stop(run) if r.get("kendall_tau") is not None]
    return statistics.fmean(taus) if taus else None


def in_top(runs: list[Run], m: int) -> float | None:
    """Share of AGLP rounds to the stop whose winner was in the zero-shot top m."""
    ranks = [zero_shot_rank(r) for run in runs for r in to_stop(run)]
    known = [k for k in ranks if k is not None]
    return sum(k <= m for k in known) / len(known) if known else None


def is_faithful(by_strategy: dict[str, list[Run]]) -> bool:
    """A group whose AGLP keeps its winner."""
    return any(r["budget"].get("repurpose_epochs") == 0 for runs in by_strategy.values() for r in runs)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0%}"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def strategy_rows(by_strategy: dict[str, list[Run]]) -> list[list[str]]:
    """AGLP and each cheaper strategy of one group: layers, paired deltas and shares, τ."""
    aglp = {r["seed"]: r for r in by_strategy.get("aglp", [])}
    rows = []
    for strategy in ["aglp", *[s for s in CHEAP if s in by_strategy]]:
        runs = sorted(by_strategy.get(strategy, []), key=lambda r: r["seed"])
        if not runs:
            continue
        pairs = [(r, aglp[r["seed"]]) for r in runs if r["seed"] in aglp]
        removed: list[float | None] = [float(r["summary"]["layers_removed"]) for r in runs]
        costs = [cost_to_stop(r) for r in runs]
        delta = [r["summary"]["layers_removed"] - a["summary"]["layers_removed"] for r, a in pairs]
        ex_share = [cost_to_stop(r)[0] / cost_to_stop(a)[0] for r, a in pairs]
        s_share = [cost_to_stop(r)[1] / cost_to_stop(a)[1] for r, a in pairs]
        rows.append(
            [
                strategy,
                ",".join(str(r["seed"]) for r in runs),
                f"{stat(removed, lambda x: f'{x:.1f}')} of {runs[0]['summary']['layers_total']}",
                f"{statistics.fmean(delta):+.1f}" if delta else "n/a",
                f"{statistics.fmean(c[0] for c in costs):.0f}",
                _pct(statistics.fmean(ex_share)) if ex_share else "n/a",
                f"{statistics.fmean(c[1] for c in costs) / 60:.1f}",
                _pct(statistics.fmean(s_share)) if s_share else "n/a",
                _num(mean_tau(runs)),
            ]
        )
    return rows


def detail_lines(name: str, by_strategy: dict[str, list[Run]]) -> list[str]:
    """AGLP's winner-in-top-m rates and τ per round; zs-greedy's no-training rule and AGLP's depth."""
    aglp = sorted(by_strategy.get("aglp", []), key=lambda r: r["seed"])
    lines = []
    rates = [(m, in_top(aglp, m)) for m in (1, 2, 3)]
    if any(rate is not None for _, rate in rates):
        rounds = max(len(to_stop(r)) for r in aglp)
        per_round = []
        for i in range(rounds):
            taus = [to_stop(r)[i].get("kendall_tau") for r in aglp if len(to_stop(r)) > i]
            present = [t for t in taus if t is not None]
            per_round.append(f"r{i + 1} {statistics.fmean(present):+.2f}" if present else f"r{i + 1} n/a")
        lines.append(
            f"- {name}: AGLP's winner was in the zero-shot top 1 / 2 / 3 in "
            f"{' / '.join(_pct(rate) for _, rate in rates)} of its rounds to the stop; Kendall τ per round "
            f"(mean over seeds): {', '.join(per_round)}."
        )
    reference = {r["seed"]: r for r in aglp}
    sample = aglp[0]["budget"].get("candidate_train_examples") if aglp else None
    if sample is not None:
        shares = []
        for strategy in CHEAP:
            runs = by_strategy.get(strategy, [])
            pairs = [(r, reference[r["seed"]]) for r in runs if r["seed"] in reference]
            if pairs:
                share = statistics.fmean(full_budget_examples(r) / full_budget_examples(a) for r, a in pairs)
                shares.append(f"{strategy} {share:.0%}")
        if shares:
            lines.append(
                f"- {name}: candidates fine-tuned on {sample} examples here; had every verified candidate "
                f"trained on all {aglp[0]['budget']['train_examples']}, the same rounds would cost, as a "
                f"share of AGLP's examples: {', '.join(shares)}."
            )
    for run in sorted(by_strategy.get("zs-greedy", []), key=lambda r: r["seed"]):
        rule = run.get("zero_shot_rule")
        if rule is None:
            continue
        kept = "kept" if rule["retained"] else "did not keep"
        text = (
            f"- {name} seed {run['seed']}, zs-greedy: the no-training rule (remove while the untrained score "
            f"stays at or above the threshold) stops at {rule['layers']} layer(s); one recovery fine-tune "
            f"there {kept} the threshold ({rule['train_examples']} training examples in all)"
        )
        a = reference.get(run["seed"])
        if a is not None:
            depth, rounds = a["summary"]["layers_removed"], run["result"]["rounds"]
            if depth == 0:
                text += "; AGLP removed none"
            elif len(rounds) >= depth:
                there = rounds[depth - 1]
                verdict = "kept" if there["score"] >= threshold_of(run) else "did not keep"
                text += (
                    f"; at AGLP's depth ({depth}) the zero-shot order plus one recovery fine-tune {verdict} "
                    f"the threshold ({there['score']:.3f})"
                )
            else:
                text += f"; AGLP's depth ({depth}) was not reached"
        lines.append(text + ".")
    return lines


def threshold_of(run: Run) -> float:
    """The run's retention threshold on the selection half (the engine's rule)."""
    baseline = run["summary"]["baseline_score"]
    return float(baseline - (1.0 - run["retention"]) * abs(baseline))


def paired(by_strategy: dict[str, list[Run]], strategy: str) -> tuple[float, float] | None:
    """Mean over shared seeds of (layers removed - AGLP's, examples to the stop / AGLP's); None if none."""
    aglp = {r["seed"]: r for r in by_strategy.get("aglp", [])}
    pairs = [(r, aglp[r["seed"]]) for r in by_strategy.get(strategy, []) if r["seed"] in aglp]
    if not pairs:
        return None
    delta = statistics.fmean(
        r["summary"]["layers_removed"] - a["summary"]["layers_removed"] for r, a in pairs
    )
    share = statistics.fmean(cost_to_stop(r)[0] / cost_to_stop(a)[0] for r, a in pairs)
    return delta, share


def goal_lines(chosen: dict[Group, dict[str, list[Run]]]) -> list[str]:
    """Per model and cheaper strategy, the task average of the paired layer difference and cost share."""
    lines = []
    for model in sorted({g[0] for g in chosen}):
        layers = {
            b["aglp"][0]["summary"]["layers_total"]
            for g, b in chosen.items()
            if g[0] == model and b.get("aglp")
        }
        for strategy in CHEAP:
            per_task = [p for g, b in chosen.items() if g[0] == model and (p := paired(b, strategy))]
            if not per_task:
                continue
            delta = statistics.fmean(p[0] for p in per_task)
            share = statistics.fmean(p[1] for p in per_task)
            lines.append(
                f"- {model} ({'/'.join(map(str, sorted(layers)))} layers), {strategy}: {delta:+.2f} layers "
                f"against AGLP with {share:.0%} of its training examples to the stop, mean over "
                f"{len(per_task)} task(s) of the per-seed pairs."
            )
    return lines


def faithful_section(groups: dict[Group, dict[str, list[Run]]]) -> list[str]:
    """The section, or nothing where no group ran AGLP keeping its winner."""
    chosen = {g: b for g, b in groups.items() if is_faithful(b)}
    if not chosen:
        return []
    header = ["strategy", "seeds", "layers removed", "Δ vs AGLP", "train ex to stop", "% of AGLP"]
    header += ["min to stop", "% of AGLP wall", "mean τ"]
    out = ["", "## Shortlist vs faithful AGLP (AGLP keeps its winner)", "", NOTE]
    for group, by_strategy in chosen.items():
        model, task, _ = group
        runs = [r for rs in by_strategy.values() for r in rs]
        name = f"{task}, {model}"
        out += ["", f"### {name}: {budget_label(runs[0]['budget'])}", ""]
        out += table(header, strategy_rows(by_strategy))
        out += ["", *detail_lines(name, by_strategy)]
    goals = goal_lines(chosen)
    if goals:
        out += [
            "",
            "### Against the goal (within 0.5 layers of AGLP; ≤40% of its examples at 6 layers, ≤25% at 12)",
        ]
        out += ["", *goals]
    return out
