"""The guard against a meaningless result: a baseline that did not learn, and the warnings that qualify one.

One rule decides whether the full model learned the task, for the engine and the benchmark alike: on
both dev halves it must close `CHANCE_MARGIN` of the gap from chance to a perfect score of 1. A share,
not a fixed margin: MRPC's F1 for "all paraphrases" is 0.81, so a fixed +0.05 would ask it for a
quarter of its headroom while asking SST-2 (chance 0.5) for a tenth.
"""

from __future__ import annotations

from worker.pruning.errors import PruningError
from worker.pruning.types import RunWarning

CHANCE_MARGIN = 0.1


class BaselineNotLearned(PruningError):
    """The full model does not beat chance, so every layer choice after it would be noise."""

    code = "baseline_not_learned"


def learning_bar(chance: float, margin: float = CHANCE_MARGIN) -> float:
    """The score the full model must reach on both dev halves to count as having learned the task."""
    return chance + margin * (1.0 - chance)


def learned(selection: float, report: float, chance: float, margin: float = CHANCE_MARGIN) -> bool:
    """Whether a full model scoring `selection` and `report` on the two dev halves clearly beats chance."""
    return min(selection, report) >= learning_bar(chance, margin)


def check_baseline(
    *, selection: float, report: float, chance: float, metric: str, allow_weak: bool, as_is: bool
) -> list[RunWarning]:
    """Raise BaselineNotLearned for a full model that did not learn, or return the overriding warning."""
    if learned(selection, report, chance):
        return []
    scores = (
        f"the full model scores {selection:.4f} {metric} on the selection half and {report:.4f} on the "
        f"report half; chance is {chance:.4f} and the bar is {learning_bar(chance):.4f} on both"
    )
    if allow_weak:
        return [RunWarning("weak_baseline", f"{scores}, so the layer choices may be noise")]
    advice = (
        "check that the uploaded model is fine-tuned for this task and its labels, or use baseline fine-tune"
        if as_is
        else "try more epochs, a higher learning_rate or more training data (max_train_examples)"
    )
    raise BaselineNotLearned(
        f"{scores}: it did not learn the task, so pruning it would only measure noise. To fix it, "
        f"{advice}; or set allow_weak_baseline to run anyway."
    )


def threshold_warning(threshold: float, chance: float) -> RunWarning | None:
    """A warning when the retention threshold lies at or below chance, so a one-class model passes it."""
    if threshold > chance:
        return None
    return RunWarning(
        "threshold_at_chance",
        f"the retention threshold ({threshold:.4f}) is at or below chance ({chance:.4f}): a model that "
        "predicts the majority class passes it, so the layers removed say little; raise retention",
    )


def undertrained_gain(baseline: float, threshold: float, best: float) -> float | None:
    """How far a pruned model beat the full model, when that is more than retention lets it lose."""
    gain = best - baseline
    return gain if gain > baseline - threshold else None


def undertrained_warning(baseline: float, threshold: float, scores: list[float]) -> RunWarning | None:
    """A warning when a pruned model beats the full model by more than the retention margin."""
    gain = undertrained_gain(baseline, threshold, max(scores)) if scores else None
    if gain is None:
        return None
    return RunWarning(
        "undertrained_baseline",
        f"a pruned model scored {gain:.4f} above the full model ({baseline:.4f}), more than retention "
        "allows it to lose: the full model was undertrained, so 'retained' means little; fine-tune the "
        "full model longer (epochs) or with a higher learning_rate",
    )
