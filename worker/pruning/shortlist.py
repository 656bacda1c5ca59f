"""Rounds that rank candidates zero-shot: `aglp-shortlist` (fine-tune only the best few) and `analyze`.

aglp-shortlist round: score every candidate of the current fine-tuned model zero-shot, fine-tune the
top `shortlist` of them exactly as AGLP fine-tunes a candidate (same seed, same sample), keep the best
fine-tuned one and repurpose it as AGLP does. With `shortlist` at the layer count it is AGLP.

analyze round: drop the zero-shot favourite, no training, and record every candidate's metric, loss
and Block Influence: the per-layer sensitivity table, round after round down to the floor.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from scipy.stats import kendalltau

from worker.pruning.resume import RunState, Slot
from worker.pruning.strategies import CANDIDATE, REPURPOSE, Context, Outcome, _score, _train
from worker.pruning.surgery import without_layers
from worker.pruning.types import Candidate
from worker.pruning.zeroshot import ZeroShot, ranked, zero_shot_scores

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def zero_shot(ctx: Context, start: Slot) -> list[ZeroShot]:
    """Every candidate of the round's start model, scored untrained on the selection split."""
    scores = zero_shot_scores(
        start.model,
        start.kept,
        ctx.data.selection,
        ctx.data,
        ctx.request.hyperparameters,
        ctx.device,
        ctx.meters["score"],
    )
    allowed = set(ctx.candidates(start.kept))  # protected layers are scored (one pass) but never candidates
    return [z for z in scores if z.layer in allowed]


def verify_candidate(ctx: Context, start: Slot, layer: int, rnd: int) -> tuple[PreTrainedModel, float, int]:
    """Fine-tune and score one candidate (`start` without original layer `layer`), as AGLP would.

    Depends only on the round's start model, the layer and the round number, so candidates can be
    verified one after another or each on its own worker. Returns (model, selection score, examples).
    """
    model = without_layers(start.model, [start.kept.index(layer)])
    examples = _train(ctx, model, ctx.request.hyperparameters.candidate_epochs, CANDIDATE, rnd, layer)
    return model, _score(ctx, model), examples


def rank_agreement(order: list[ZeroShot], tuned: dict[int, float]) -> float | None:
    """Kendall's tau between the zero-shot ranking and the fine-tuned scores of the verified candidates."""
    verified = [z.layer for z in order if z.layer in tuned]
    if len(verified) < 2:
        return None
    tau = kendalltau([-i for i in range(len(verified))], [tuned[layer] for layer in verified]).statistic
    return None if tau is None or math.isnan(tau) else float(tau)


def _candidates(
    scores: list[ZeroShot], tuned: dict[int, float], seconds: dict[int, float]
) -> tuple[Candidate, ...]:
    """Every candidate with its zero-shot fields, and a fine-tuned score for the verified ones."""
    return tuple(
        Candidate(
            layer=z.layer,
            score=tuned.get(z.layer),
            seconds=seconds.get(z.layer, 0.0),
            zero_shot_score=z.score,
            zero_shot_loss=z.loss,
            block_influence=z.block_influence,
        )
        for z in sorted(scores, key=lambda z: z.layer)
    )


def shortlist_round(ctx: Context, state: RunState, rnd: int) -> Outcome:
    """Rank zero-shot, fine-tune the shortlist, keep the best fine-tuned candidate, repurpose it."""
    current = state.slots["current"]
    hp = ctx.request.hyperparameters
    began = time.monotonic()
    scores = zero_shot(ctx, current)
    order = ranked(scores)
    ranking_seconds = time.monotonic() - began
    tuned: dict[int, float] = {}
    seconds: dict[int, float] = {z.layer: ranking_seconds / len(order) for z in order}
    best: tuple[int, PreTrainedModel, float] | None = None
    examples = 0
    for z in order[: hp.shortlist]:
        began = time.monotonic()
        model, score, spent = verify_candidate(ctx, current, z.layer, rnd)
        examples += spent
        tuned[z.layer] = score
        seconds[z.layer] += time.monotonic() - began
        ctx.observer.on_candidate(rnd, z.layer, score, seconds[z.layer])
        # As in AGLP: the higher score wins, ties go to the lower original index.
        if best is None or (score, -z.layer) > (best[2], -best[0]):
            best = (z.layer, model, score)
        del model
    assert best is not None
    winner, model, score = best
    if hp.repurpose_epochs > 0:
        model = without_layers(current.model, [current.kept.index(winner)])
        examples += _train(ctx, model, hp.repurpose_epochs, REPURPOSE, rnd, winner)
        score = _score(ctx, model)
    kept = [layer for layer in current.kept if layer != winner]
    return Outcome(
        _candidates(scores, tuned, seconds),
        winner,
        model,
        kept,
        score,
        examples,
        zero_shot_top=winner == order[0].layer,
        kendall_tau=rank_agreement(order, tuned),
    )


def analyze_round(ctx: Context, state: RunState, rnd: int) -> Outcome:
    """Greedy zero-shot removal: drop the candidate whose untrained model scores best; train nothing."""
    current = state.slots["current"]
    began = time.monotonic()
    scores = zero_shot(ctx, current)
    top = ranked(scores)[0]
    each = (time.monotonic() - began) / len(scores)
    model = without_layers(current.model, [current.kept.index(top.layer)])
    kept = [layer for layer in current.kept if layer != top.layer]
    candidates = _candidates(scores, {}, {z.layer: each for z in scores})
    return Outcome(candidates, top.layer, model, kept, top.score, 0)


ZERO_SHOT_ROUNDS: dict[str, Callable[[Context, RunState, int], Outcome]] = {
    "aglp-shortlist": shortlist_round,
    "analyze": analyze_round,
}
