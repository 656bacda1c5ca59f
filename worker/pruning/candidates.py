"""A round's candidates: one fine-tune each, run by a `CandidateRunner` (here in turn, or on a worker pool).

A candidate is a pure function of the round's start model, the layer, the hyperparameters and the
seed (the candidate seed of (seed, round, layer), on the fixed candidate sample), so any process that
holds the same start model computes the same score; that is what lets the workers spread a round.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from worker.pruning.resume import RunState, Slot
from worker.pruning.strategies import CANDIDATE, REPURPOSE, Context, Outcome, _score, _train
from worker.pruning.surgery import without_layers
from worker.pruning.types import Candidate

if TYPE_CHECKING:
    from transformers import PreTrainedModel


@dataclass(frozen=True)
class Trial:
    """One candidate's outcome: its original layer, selection score, seconds and training examples."""

    layer: int
    score: float
    seconds: float
    train_examples: int


class CandidateRunner(Protocol):
    """Who fine-tunes a round's candidates; every result must equal `train_candidate`'s."""

    def score(self, ctx: Context, rnd: int, start: Slot, layers: Sequence[int]) -> list[Trial]:
        """Fine-tune and score each candidate; each is told to `ctx.observer.on_candidate` once known."""
        ...

    def model(self, ctx: Context, rnd: int, start: Slot, layer: int) -> PreTrainedModel:
        """The fine-tuned candidate `layer` of the round just scored (kept when repurpose_epochs is 0)."""
        ...


def train_candidate(ctx: Context, start: Slot, layer: int, rnd: int) -> tuple[PreTrainedModel, float, int]:
    """Fine-tune and score `start` without original layer `layer`; returns (model, score, examples)."""
    model = without_layers(start.model, [start.kept.index(layer)])
    epochs = ctx.request.hyperparameters.candidate_epochs
    examples = _train(ctx, model, epochs=epochs, stage=CANDIDATE, rnd=rnd, layer=layer)
    return model, _score(ctx, model), examples


def timed_candidate(ctx: Context, start: Slot, layer: int, rnd: int) -> tuple[PreTrainedModel, Trial]:
    """`train_candidate` with its wall time, as a Trial."""
    began = time.monotonic()
    model, score, examples = train_candidate(ctx, start, layer, rnd)
    return model, Trial(layer, score, time.monotonic() - began, examples)


def winner(trials: Sequence[Trial]) -> Trial:
    """The best score; ties go to the lowest original index."""
    return max(trials, key=lambda t: (t.score, -t.layer))


class SequentialRunner:
    """Every candidate here, one after another, lowest layer first; holds the round's best model."""

    def __init__(self) -> None:
        self._held: tuple[int, Trial, PreTrainedModel] | None = None

    def score(self, ctx: Context, rnd: int, start: Slot, layers: Sequence[int]) -> list[Trial]:
        trials: list[Trial] = []
        if self._held is not None and self._held[0] != rnd:
            self._held = None  # a widened shortlist calls again in the same round: keep its best
        for layer in sorted(layers):
            model, trial = timed_candidate(ctx, start, layer, rnd)
            trials.append(trial)
            ctx.observer.on_candidate(rnd, layer, trial.score, trial.seconds)
            if self._held is None or winner([self._held[1], trial]) is trial:
                self._held = (rnd, trial, model)
            del model
        return trials

    def model(self, ctx: Context, rnd: int, start: Slot, layer: int) -> PreTrainedModel:
        held, self._held = self._held, None
        if held is not None and (held[0], held[1].layer) == (rnd, layer):
            return held[2]
        return train_candidate(ctx, start, layer, rnd)[0]


def settle(
    ctx: Context, rnd: int, start: Slot, trials: Sequence[Trial]
) -> tuple[int, PreTrainedModel, float, int]:
    """The round's winner, its model (repurposed, or the candidate's own) and score, and all examples."""
    best = winner(trials)
    examples = sum(t.train_examples for t in trials)
    repurpose = ctx.request.hyperparameters.repurpose_epochs
    if repurpose == 0:
        assert ctx.runner is not None
        return best.layer, ctx.runner.model(ctx, rnd, start, best.layer), best.score, examples
    model = without_layers(start.model, [start.kept.index(best.layer)])
    examples += _train(ctx, model, epochs=repurpose, stage=REPURPOSE, rnd=rnd, layer=best.layer)
    return best.layer, model, _score(ctx, model), examples


def aglp_round(ctx: Context, state: RunState, rnd: int) -> Outcome:
    """AGLP: drop each current layer from the current fine-tuned model, keep the best, repurpose it."""
    assert ctx.runner is not None
    current = state.slots["current"]
    trials = ctx.runner.score(ctx, rnd, current, ctx.candidates(current.kept))
    layer, model, score, examples = settle(ctx, rnd, current, trials)
    scores = tuple(Candidate(t.layer, t.score, t.seconds) for t in sorted(trials, key=lambda t: t.layer))
    kept = [k for k in current.kept if k != layer]
    return Outcome(scores, layer, model, kept, score, examples)


CANDIDATE_ROUNDS: dict[str, Callable[[Context, RunState, int], Outcome]] = {"aglp": aglp_round}
