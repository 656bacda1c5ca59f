"""Rounds that rank candidates zero-shot: `aglp-shortlist` (fine-tune only the best few), `analyze`, and AGLP.

aglp-shortlist round: score every candidate of the current fine-tuned model zero-shot, fine-tune the
top `shortlist` of them exactly as AGLP fine-tunes a candidate (same seed, same sample), keep the best
fine-tuned one and repurpose it as AGLP does. With `shortlist` at the layer count it is AGLP.

aglp round: AGLP itself, unchanged in what it trains and keeps, with every candidate's zero-shot score
recorded beside its fine-tuned one, so each round gives the full agreement between the two rankings.
One prefix-cache pass of the selection split per round: about L/2 forward passes of the current model.

analyze round: drop the zero-shot favourite, no training, and record every candidate's metric, loss
and Block Influence: the per-layer sensitivity table, round after round down to the floor.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from scipy.stats import kendalltau

from worker.pruning.candidates import aglp_round, settle, train_candidate
from worker.pruning.resume import RunState, Slot
from worker.pruning.strategies import Context, Outcome
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
        data=ctx.data,
        hp=ctx.request.hyperparameters,
        device=ctx.device,
        meter=ctx.meters["score"],
    )
    allowed = set(ctx.candidates(start.kept))  # protected layers are scored (one pass) but never candidates
    return [z for z in scores if z.layer in allowed]


def verify_candidate(ctx: Context, start: Slot, layer: int, rnd: int) -> tuple[PreTrainedModel, float, int]:
    """Fine-tune and score one candidate exactly as AGLP does; returns (model, selection score, examples)."""
    return train_candidate(ctx, start, layer, rnd)


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
    seconds: dict[int, float] = {z.layer: ranking_seconds / len(order) for z in order}
    assert ctx.runner is not None
    trials = ctx.runner.score(ctx, rnd, current, [z.layer for z in order[: hp.shortlist]])
    tuned = {t.layer: t.score for t in trials}
    for t in trials:
        seconds[t.layer] += t.seconds
    # As in AGLP: the higher score wins, ties go to the lower original index.
    winner, model, score, examples = settle(ctx, rnd, current, trials)
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


def ranked_aglp_round(ctx: Context, state: RunState, rnd: int) -> Outcome:
    """AGLP's round, plus every candidate's zero-shot score, the favourite's win and Kendall's tau."""
    current = state.slots["current"]
    began = time.monotonic()
    scores = zero_shot(ctx, current)
    order = ranked(scores)
    ranking_seconds = time.monotonic() - began
    outcome = aglp_round(ctx, state, rnd)
    tuned = {c.layer: c.score for c in outcome.candidates if c.score is not None}
    seconds = {c.layer: c.seconds + ranking_seconds / len(order) for c in outcome.candidates}
    outcome.candidates = _candidates(scores, tuned, seconds)
    outcome.zero_shot_top = outcome.removed_layer == order[0].layer
    outcome.kendall_tau = rank_agreement(order, tuned)
    return outcome


ZERO_SHOT_ROUNDS: dict[str, Callable[[Context, RunState, int], Outcome]] = {
    "aglp": ranked_aglp_round,
    "aglp-shortlist": shortlist_round,
    "analyze": analyze_round,
}
