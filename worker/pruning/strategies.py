"""The three pruning strategies (AGLP, GLP, top-layer dropping) as rounds over a shared run state.

Every strategy plays numbered rounds; a round yields one model with one more layer removed than the
round before. The driver in `play` scores it, applies the retention rule, records the round and
checkpoints. Seeds are derived from (seed, stage, round, layer) so each fine-tune is reproducible on
its own, which is what makes a resumed run equal an uninterrupted one.

GLP differs from Peer et al.'s code in three ways: candidates are scored on the selection half of
the dev set (theirs held out 15% of train), ties go to the lowest layer index (theirs to the highest
after rounding to 3 decimals), and removed layers are deleted, so the parameter count drops.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from secateur.kernel.cost import Plan, layer_floor, round_cost
from secateur.kernel.vocabulary import FROM_PRETRAINED, STRATEGIES
from worker.pruning import resume
from worker.pruning.batching import Meter
from worker.pruning.resume import RunState, Slot
from worker.pruning.surgery import without_layers
from worker.pruning.train import TaskDataLike, TrainRun, derive_seed, evaluate, fine_tune
from worker.pruning.types import Cancelled, Candidate, Observer, PruneRequest, RoundRecord, StopReason

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedModel

    from worker.pruning.candidates import CandidateRunner

# Seed stages: each kind of fine-tune draws from its own stream.
BASELINE, CANDIDATE, REPURPOSE, FINAL = 0, 1, 2, 3
# Strategies that walk on from the current fine-tuned model (the others restart from the pristine one).
WALKING = tuple(s for s in STRATEGIES if s not in FROM_PRETRAINED)


@dataclass
class Context:
    """What every round needs: the request, data, device, observer and the pristine model."""

    request: PruneRequest
    data: TaskDataLike
    device: torch.device
    observer: Observer
    pristine: PreTrainedModel | None  # pretrained encoder + seeded head (GLP and top only)
    layers_total: int
    threshold: float
    checkpoint_dir: Path | None
    started: float  # time.monotonic() when this process started the run
    seconds_before: float  # time spent by earlier processes on this run
    candidate_train: Dataset | None = None  # the candidates' training sample (None: all of train)
    plan: Plan | None = None  # what each round costs, for the training-examples budget
    meters: dict[str, Meter] = field(default_factory=lambda: {"train": Meter(), "score": Meter()})
    on_accept: Callable[[int, Slot], None] | None = None  # told of every accepted round's model
    runner: CandidateRunner | None = None  # who fine-tunes AGLP's and the shortlist's candidates

    def candidates(self, layers: list[int]) -> list[int]:
        """The layers that may be removed: all but the protected ones."""
        return [layer for layer in layers if layer not in self.request.protected_layers]


@dataclass
class Outcome:
    """What a round produced: its candidates, the layer it removed and the resulting model."""

    candidates: tuple[Candidate, ...]
    removed_layer: int
    model: PreTrainedModel
    kept: list[int]
    score: float
    train_examples: int
    zero_shot_top: bool | None = None
    kendall_tau: float | None = None
    budget_cut: bool = False  # the budget, not the candidates, kept the round from keeping the threshold


def _train(ctx: Context, model: PreTrainedModel, *, epochs: int, stage: int, rnd: int, layer: int) -> int:
    """Fine-tune with the seed of (stage, round, layer); returns training examples processed."""
    seed = derive_seed(ctx.request.hyperparameters.seed, stage, rnd, layer)
    train = ctx.candidate_train if stage == CANDIDATE else None
    return fine_tune(
        model,
        ctx.data,
        ctx.request.hyperparameters,
        TrainRun(epochs, seed, ctx.device),
        observer=ctx.observer,
        train=train,
        meter=ctx.meters["train"],
    )


def _score(ctx: Context, model: PreTrainedModel, split: str = "selection") -> float:
    """The task metric on the selection or report split."""
    dataset = ctx.data.selection if split == "selection" else ctx.data.report
    return evaluate(
        model,
        dataset,
        ctx.data,
        ctx.request.hyperparameters,
        device=ctx.device,
        observer=ctx.observer,
        meter=ctx.meters["score"],
    )


def _try_candidates(
    ctx: Context, rnd: int, *, layers: list[int], build: Callable[[int], PreTrainedModel], epochs: int
) -> tuple[tuple[Candidate, ...], int, PreTrainedModel, float, int]:
    """Fine-tune and score one candidate per layer; the best wins, ties to the lowest original index."""
    scores: list[Candidate] = []
    best: tuple[int, PreTrainedModel, float] | None = None
    examples = 0
    for layer in sorted(layers):
        began = time.monotonic()
        model = build(layer)
        examples += _train(ctx, model, epochs=epochs, stage=CANDIDATE, rnd=rnd, layer=layer)
        score = _score(ctx, model)
        seconds = time.monotonic() - began
        scores.append(Candidate(layer=layer, score=score, seconds=seconds))
        ctx.observer.on_candidate(rnd, layer, score, seconds)
        if best is None or score > best[2]:  # strict: an equal score never beats a lower index
            best = (layer, model, score)
        del model
    assert best is not None
    return tuple(scores), best[0], best[1], best[2], examples


def glp_round(ctx: Context, state: RunState, rnd: int) -> Outcome:
    """GLP: each remaining layer is tried on the pretrained model minus the order so far plus itself."""
    assert ctx.pristine is not None
    pristine = ctx.pristine
    remaining = ctx.candidates([layer for layer in range(ctx.layers_total) if layer not in state.order])
    candidates, winner, model, score, examples = _try_candidates(
        ctx,
        rnd,
        layers=remaining,
        build=lambda layer: without_layers(pristine, [*state.order, layer]),
        epochs=ctx.request.hyperparameters.candidate_epochs,
    )
    state.order.append(winner)
    hp = ctx.request.hyperparameters
    # With equal budgets the winning candidate already is "pretrained minus the first k, fine-tuned".
    if hp.epochs != hp.candidate_epochs or ctx.candidate_train is not None:
        model = without_layers(pristine, state.order)
        examples += _train(ctx, model, epochs=hp.epochs, stage=FINAL, rnd=rnd, layer=0)
        score = _score(ctx, model)
    kept = [layer for layer in range(ctx.layers_total) if layer not in state.order]
    return Outcome(candidates, winner, model, kept, score, examples)


def top_round(ctx: Context, state: RunState, rnd: int) -> Outcome:
    """Top-layer dropping: the pretrained model minus its top `rnd` layers, fine-tuned.

    Protected layers are skipped: round k drops the k highest layers that are not protected.
    """
    assert ctx.pristine is not None
    began = time.monotonic()
    dropped = sorted(ctx.candidates(list(range(ctx.layers_total)))[::-1][:rnd])
    model = without_layers(ctx.pristine, dropped)
    examples = _train(ctx, model, epochs=ctx.request.hyperparameters.epochs, stage=FINAL, rnd=rnd, layer=0)
    score = _score(ctx, model)
    layer = dropped[0]
    seconds = time.monotonic() - began
    ctx.observer.on_candidate(rnd, layer, score, seconds)
    kept = [layer for layer in range(ctx.layers_total) if layer not in dropped]
    return Outcome((Candidate(layer, score, seconds),), layer, model, kept, score, examples)


ROUNDS: dict[str, Callable[[Context, RunState, int], Outcome]] = {
    "glp": glp_round,
    "top": top_round,
}


def _layers_left(ctx: Context, state: RunState) -> int:
    """How many layers the next round starts from."""
    if ctx.request.strategy in WALKING:
        return len(state.slots["current"].kept)
    return ctx.layers_total - len(state.rounds)


def save_checkpoint(ctx: Context, state: RunState) -> None:
    """Checkpoint the state (when asked to) and tell the observer where."""
    state.seconds = ctx.seconds_before + time.monotonic() - ctx.started
    if ctx.checkpoint_dir is not None:
        step = resume.save(ctx.checkpoint_dir, ctx.request, state)
        ctx.observer.on_checkpoint(step)


def _over_budget(ctx: Context, state: RunState, layers_before: int) -> bool:
    """Whether the next round would take the job past its training-examples budget."""
    budget = ctx.request.hyperparameters.max_train_examples_total
    if budget is None or ctx.plan is None:
        return False
    need = round_cost(ctx.request.strategy, ctx.plan, layers_before).train_examples
    return state.train_examples + need > budget


def play(
    ctx: Context,
    state: RunState,
    rounds: dict[str, Callable[[Context, RunState, int], Outcome]] | None = None,
) -> StopReason:
    """Play rounds until the layer floor, the first rejected round (unless `run_to_end`) or the budget.

    Returns what ended the run: "budget", else "threshold" when a round was rejected, else "floor".
    The analysis plays to the floor whatever the threshold says.
    """
    round_fn = (rounds or ROUNDS)[ctx.request.strategy]
    # The analysis maps every depth: it plays to the floor whatever the threshold says.
    to_floor = ctx.request.run_to_end or ctx.request.strategy == "analyze"
    request = ctx.request
    floor = layer_floor(request.min_layers, request.target_layers, len(request.protected_layers))
    while _layers_left(ctx, state) > floor:
        if state.rejected and not to_floor:
            break
        if _over_budget(ctx, state, _layers_left(ctx, state)):
            return "budget"
        # Rounds that train little or nothing (shortlist, analyze) must still notice a cancel.
        ctx.observer.heartbeat()
        if ctx.observer.should_stop():
            raise Cancelled("stopped by the observer between rounds")
        rnd = len(state.rounds) + 1
        began = time.monotonic()
        layers_before = _layers_left(ctx, state)
        outcome = round_fn(ctx, state, rnd)
        report_score = _score(ctx, outcome.model, "report")
        # Acceptance is path-dependent: once a round fails, later rounds (run_to_end) are never accepted,
        # so the result is the same whether or not the run continued.
        accepted = not state.rejected and outcome.score >= ctx.threshold
        if ctx.request.strategy in WALKING:
            state.slots["current"] = Slot(outcome.model, outcome.kept, outcome.score, report_score)
        if accepted:
            state.slots["result"] = Slot(outcome.model, outcome.kept, outcome.score, report_score)
            if ctx.on_accept is not None:
                ctx.on_accept(rnd, state.slots["result"])
        else:
            state.rejected = True
        record = RoundRecord(
            round=rnd,
            layers_before=layers_before,
            candidates=outcome.candidates,
            removed_layer=outcome.removed_layer,
            score=outcome.score,
            report_score=report_score,
            retained_fraction=retained_fraction(outcome.score, state.baseline_score),
            accepted=accepted,
            seconds=time.monotonic() - began,
            train_examples=outcome.train_examples,
            zero_shot_top=outcome.zero_shot_top,
            kendall_tau=outcome.kendall_tau,
        )
        state.rounds.append(record)
        state.train_examples += outcome.train_examples
        ctx.observer.on_round(record)
        save_checkpoint(ctx, state)
        if outcome.budget_cut and not accepted:
            return "budget"
    # The analysis always maps down to the floor; a rejected round only marks where the threshold lies.
    return "threshold" if state.rejected and ctx.request.strategy != "analyze" else "floor"


def threshold_for(baseline: float, retention: float) -> float:
    """The lowest accepted score: baseline - (1 - retention) * |baseline|."""
    return baseline - (1.0 - retention) * abs(baseline)


def retained_fraction(score: float, baseline: float) -> float | None:
    """score / baseline where that ratio means something (positive baseline), else None."""
    return score / baseline if baseline > 0 else None
