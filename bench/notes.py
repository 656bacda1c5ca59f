"""Warnings that qualify a task's AGLP-vs-GLP line: when the layer counts say less than they seem to."""

from __future__ import annotations

import statistics
from collections import defaultdict

from bench.tables import Run
from worker.pruning.guard import threshold_warning, undertrained_gain
from worker.pruning.strategies import threshold_for


def chance_note(by_strategy: dict[str, list[Run]]) -> str:
    """A warning when the retention threshold lies at or below chance, so a one-class model passes it."""
    runs = [r for rs in by_strategy.values() for r in rs]
    baseline = statistics.fmean(r["summary"]["baseline_score"] for r in runs)
    chance = statistics.fmean(r["summary"]["chance_score"] for r in runs)
    threshold = threshold_for(baseline, runs[0]["retention"])
    if threshold_warning(threshold, chance) is None:
        return ""
    return (
        f" The retention threshold ({threshold:.3f}) is at or below chance ({chance:.3f}): a model that "
        "predicts the majority class passes it, so these layer counts say little."
    )


def undertrained_note(by_strategy: dict[str, list[Run]]) -> str:
    """A warning when pruned models beat the full model by more than retention allows it to lose.

    Then the full model was undertrained at this budget: every later fine-tune (candidates, repurposing)
    adds training, and the retention rule rewards the strategy that trains most as much as good pruning.
    """
    worst = ""
    best_gain = 0.0
    for strategy, runs in by_strategy.items():
        for run in runs:
            baseline = run["summary"]["baseline_score"]
            threshold = threshold_for(baseline, run["retention"])
            gain = undertrained_gain(baseline, threshold, max(p["score"] for p in run["curve"]))
            if gain is not None and gain > best_gain:
                best_gain, worst = gain, strategy
    if not worst:
        return ""
    return (
        f" Pruned models beat the full model by up to {best_gain:.3f} ({worst.upper()}): the full model "
        "is undertrained at this budget, so extra training counts as much as the choice of layers."
    )


def tie_note(by_strategy: dict[str, list[Run]]) -> str:
    """A warning for each strategy whose candidates all scored alike in most of its rounds.

    The engine breaks a tie by the lowest layer index, so such a round's choice was not a ranking at all;
    GLP meets it when candidates fine-tuned from the pretrained weights on a small sample stay at chance.
    """
    notes = []
    for strategy, runs in by_strategy.items():
        tied = total = 0
        for run in runs:
            rounds: dict[int, list[float]] = defaultdict(list)
            for candidate in run.get("timing", {}).get("candidates", []):
                rounds[candidate["round"]].append(candidate["score"])
            ranked = [scores for scores in rounds.values() if len(scores) > 1]
            total += len(ranked)
            tied += sum(max(scores) - min(scores) < 1e-9 for scores in ranked)
        if total and tied * 2 > total:
            notes.append(
                f" {strategy.upper()}'s candidates all scored alike in {tied} of {total} rounds, so it "
                "dropped the lowest remaining layer there by default: its count reflects the candidate "
                "budget, not its ranking."
            )
    return "".join(notes)
