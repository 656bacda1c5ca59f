"""The report's shortlist section: each aglp-shortlist size next to faithful AGLP on the same seeds."""

from __future__ import annotations

import statistics

from bench.tables import Group, Run, count, label, minutes, score, table

SHORTLIST_NOTE = (
    "`aglp-shortlistK` ranks each round's candidates zero-shot and fine-tunes only the best K. "
    "It saves candidate fine-tunes only: the baseline and each round's repurposing cost what AGLP's "
    "do, so where candidates train on a small sample the share of AGLP's examples stays high. "
    "% of AGLP: training examples against faithful AGLP's on the same task, seed and budget. "
    "Zero-shot top: share of rounds whose fine-tuned winner was the zero-shot favourite (1.00 by "
    "construction at shortlist 1, where the favourite is the only candidate fine-tuned); mean τ: "
    "Kendall τ between the zero-shot and fine-tuned order of the verified candidates, averaged over "
    "the rounds that have one (none at shortlist 1; at shortlist 2 each round's τ is +1 or -1)."
)


def mean_of_rounds(run: Run, key: str) -> float | None:
    """A round field (`zero_shot_top`, `kendall_tau`) averaged over the rounds that have it; None if none."""
    values = [float(r[key]) for r in run["result"]["rounds"] if r.get(key) is not None]
    return statistics.fmean(values) if values else None


def shortlist_rows(groups: dict[Group, dict[str, list[Run]]]) -> list[list[str]]:
    """Per task and seed where a shortlist ran: AGLP and each shortlist, with cost as a share of AGLP's."""
    rows = []
    for group, by_strategy in groups.items():
        shortlists = sorted(s for s in by_strategy if s.startswith("aglp-shortlist"))
        if not shortlists:
            continue
        aglp = {r["seed"]: r for r in by_strategy.get("aglp", [])}
        for strategy in ["aglp", *shortlists] if aglp else shortlists:
            for run in sorted(by_strategy[strategy], key=lambda r: r["seed"]):
                s, reference = run["summary"], aglp.get(run["seed"])
                share = s["train_examples"] / reference["summary"]["train_examples"] if reference else None
                top, tau = mean_of_rounds(run, "zero_shot_top"), mean_of_rounds(run, "kendall_tau")
                rows.append(
                    [
                        label(group, list(groups)),
                        str(run["seed"]),
                        strategy,
                        f"{s['layers_removed']} of {s['layers_total']}",
                        f"{score(s['score'])} / {score(s['report_score'])}",
                        count(s["train_examples"]),
                        "n/a" if share is None else f"{share:.0%}",
                        minutes(s["seconds"]),
                        "n/a" if top is None else f"{top:.2f}",
                        "n/a" if tau is None else f"{tau:.2f}",
                    ]
                )
    return rows


def shortlist_section(groups: dict[Group, dict[str, list[Run]]]) -> list[str]:
    """The shortlist-vs-AGLP section of the report; empty where no shortlist ran."""
    rows = shortlist_rows(groups)
    if not rows:
        return []
    header = ["task", "seed", "strategy", "removed", "sel / report", "train examples", "% of AGLP"]
    header += ["min", "zero-shot top", "mean τ"]
    return [
        "",
        "## Shortlist vs AGLP with repurposing (earlier runs, candidates on a sample)",
        "",
        SHORTLIST_NOTE,
        "",
        *table(header, rows),
        "",
        *shortlist_lines(groups),
    ]


def shortlist_lines(groups: dict[Group, dict[str, list[Run]]]) -> list[str]:
    """Per task and shortlist size, over the seeds AGLP also ran: layers removed and training share."""
    lines, seeds_seen = [], set()
    for group, by_strategy in groups.items():
        aglp = {r["seed"]: r["summary"] for r in by_strategy.get("aglp", [])}
        for strategy in sorted(s for s in by_strategy if s.startswith("aglp-shortlist")):
            pairs = [(r["summary"], aglp[r["seed"]]) for r in by_strategy[strategy] if r["seed"] in aglp]
            if not pairs:
                continue
            seeds_seen |= {(group, r["seed"]) for r in by_strategy[strategy] if r["seed"] in aglp}
            delta = statistics.fmean(s["layers_removed"] - a["layers_removed"] for s, a in pairs)
            share = statistics.fmean(s["train_examples"] / a["train_examples"] for s, a in pairs)
            lines.append(
                f"- {label(group, list(groups))}, {strategy}: {delta:+.1f} layers removed against AGLP "
                f"with {share:.0%} of its training examples, mean of {len(pairs)} seed(s)."
            )
    apart = [
        f"{label(group, list(groups))} seed {r['seed']}"
        for group, by_strategy in groups.items()
        for strategy, runs in by_strategy.items()
        if strategy.startswith("aglp-shortlist")
        for r in runs
        for a in by_strategy.get("aglp", [])
        if a["seed"] == r["seed"] and a["summary"]["baseline_score"] != r["summary"]["baseline_score"]
    ]
    if apart:
        lines.append(
            "- The full model scored differently for AGLP and the shortlist on "
            f"{', '.join(sorted(set(apart)))}: it was fine-tuned apart for each, so those pairs also "
            "start from different models."
        )
    if lines:
        tasks = len({group for group, _ in seeds_seen})
        lines.append(
            f"- Evidence: {len(seeds_seen)} (task, seed) pair(s) on {tasks} task(s); so few seeds and tasks "
            "are weak evidence for or against the shortlist."
        )
    return lines
