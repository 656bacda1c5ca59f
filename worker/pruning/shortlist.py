"""Rounds that rank candidates zero-shot: `aglp-shortlist` (fine-tune only the best few), `analyze`, and AGLP.

aglp-shortlist round: score every candidate of the current fine-tuned model zero-shot, fine-tune the
top `shortlist` of them exactly as AGLP fine-tunes a candidate (same seed, same sample), keep the best
fine-tuned one and repurpose it as AGLP does. With `shortlist` at the layer count it is AGLP. When no
verified candidate keeps the threshold, the round widens by `shortlist` more in zero-shot order until
one does or none is left: the job stops only where AGLP, from the same model, would stop too.

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

from secateur.kernel.cost import candidates_cost, repurpose_cost
from worker.pruning.candidates import Trial, aglp_round, settle, train_candidate, winner
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


def _widen_fits(ctx: Context, state: RunState, spent: int, batch: int) -> bool:
    """Whether `batch` more candidates (and the repurposing) stay within the training-examples budget."""
    budget = ctx.request.hyperparameters.max_train_examples_total
    if budget is None or ctx.plan is None:
        return True
    more = candidates_cost(ctx.plan, batch) + repurpose_cost(ctx.plan)
    return state.train_examples + spent + more.train_examples <= budget


def verify(ctx: Context, state: RunState, rnd: int, order: list[ZeroShot]) -> tuple[list[Trial], bool]:
    """Fine-tune the shortlist, widening while no verified candidate keeps the threshold.

    Returns the trials and whether the budget, not the ranking, stopped the widening. A round that
    has already failed (run_to_end) cannot be accepted, so it is never widened.
    """
    assert ctx.runner is not None
    current, size = state.slots["current"], ctx.request.hyperparameters.shortlist
    trials = ctx.runner.score(ctx, rnd, current, [z.layer for z in order[:size]])
    done = min(size, len(order))
    while done < len(order) and not state.rejected and winner(trials).score < ctx.threshold:
        batch = [z.layer for z in order[done : done + size]]
        if not _widen_fits(ctx, state, sum(t.train_examples for t in trials), len(batch)):
            return trials, True
        trials += ctx.runner.score(ctx, rnd, current, batch)
        done += len(batch)
    return trials, False


def shortlist_round(ctx: Context, state: RunState, rnd: int) -> Outcome:
    """Rank zero-shot, fine-tune the shortlist (widened on a miss), keep the best, repurpose it."""
    current = state.slots["current"]
    began = time.monotonic()
    scores = zero_shot(ctx, current)
    order = ranked(scores)
    ranking_seconds = time.monotonic() - began
    seconds: dict[int, float] = {z.layer: ranking_seconds / len(order) for z in order}
    trials, budget_cut = verify(ctx, state, rnd, order)
    tuned = {t.layer: t.score for t in trials}
    for t in trials:
        seconds[t.layer] += t.seconds
    # As in AGLP: the higher score wins, ties go to the lower original index.
    won, model, score, examples = settle(ctx, rnd, current, trials)
    kept = [layer for layer in current.kept if layer != won]
    return Outcome(
        _candidates(scores, tuned, seconds),
        won,
        model,
        kept,
        score,
        examples,
        zero_shot_top=won == order[0].layer,
        kendall_tau=rank_agreement(order, tuned),
        budget_cut=budget_cut,
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
