"""The full model every strategy starts from: loaded, then fine-tuned (or from the cache) or scored as-is."""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any, cast

from worker.pruning import baseline_cache
from worker.pruning.as_is import load_as_is
from worker.pruning.resume import RunState, Slot
from worker.pruning.strategies import Context
from worker.pruning.surgery import load_model
from worker.pruning.train import TaskDataLike, TrainRun, derive_seed, evaluate, fine_tune
from worker.pruning.types import PruneRequest, RunWarning, TaskType


def _fine_tune_full(ctx: Context, data: TaskDataLike, full: Any) -> baseline_cache.Baseline:
    """Fine-tune the full model and score it on both dev halves."""
    hp = ctx.request.hyperparameters
    started = time.monotonic()
    model = copy.deepcopy(full) if ctx.pristine is not None else full
    seed = derive_seed(hp.seed, 0, 0, 0)
    run = TrainRun(hp.epochs, seed, ctx.device)
    examples = fine_tune(model, data, hp, run, observer=ctx.observer, meter=ctx.meters["train"])
    score = evaluate(
        model, data.selection, data, hp, device=ctx.device, observer=ctx.observer, meter=ctx.meters["score"]
    )
    report = evaluate(
        model, data.report, data, hp, device=ctx.device, observer=ctx.observer, meter=ctx.meters["score"]
    )
    return baseline_cache.Baseline(model, score, report, examples, time.monotonic() - started)


def _score_as_is(ctx: Context, data: TaskDataLike, full: Any) -> baseline_cache.Baseline:
    """Baseline as-is: the uploaded fine-tuned model, scored on both dev halves without training."""
    hp = ctx.request.hyperparameters
    started = time.monotonic()
    score = evaluate(full, data.selection, data, hp, device=ctx.device)
    report = evaluate(full, data.report, data, hp, device=ctx.device)
    return baseline_cache.Baseline(full, score, report, 0, time.monotonic() - started)


def establish(ctx: Context, data: TaskDataLike, full: Any, cache_dir: Path | None) -> RunState:
    """The full model every strategy starts from, as current model and result so far.

    The one place the baseline is made: fine-tuned (from the cache when it holds it), or as-is.
    """
    task_type = cast(TaskType, data.type)
    as_is = ctx.request.baseline == "as-is"
    cached = baseline_cache.load(cache_dir, ctx.request, task_type) if cache_dir and not as_is else None
    if as_is:
        base = _score_as_is(ctx, data, full)
    elif cached is None:
        base = _fine_tune_full(ctx, data, full)
        if cache_dir:
            baseline_cache.save(cache_dir, ctx.request, base)
    else:
        base = cached
        # A reused baseline still counts toward the run's cost, so runs compare as if each paid for it.
        ctx.seconds_before += base.seconds
    slot = Slot(base.model, list(range(ctx.layers_total)), base.score, base.report_score)
    # AGLP and its zero-shot variants walk on from a current model; GLP and top restart from the pristine one.
    slots = {"current": slot, "result": slot} if ctx.pristine is None else {"result": slot}
    state = RunState(base.score, base.report_score, slots, train_examples=base.train_examples)
    ctx.observer.on_baseline(base.score, base.report_score, ctx.layers_total)
    return state


def load_full(request: PruneRequest, data: TaskDataLike) -> tuple[Any, list[RunWarning]]:
    """The full model: pretrained with a fresh seeded head, or (as-is) the uploaded one with its head."""
    task_type = cast(TaskType, data.type)
    if request.baseline == "as-is":
        return load_as_is(request.model, task_type, data.label_names, request.limits)
    seed = request.hyperparameters.seed
    return load_model(
        request.model,
        task_type,
        data.num_labels,
        label_names=data.label_names,
        seed=seed,
        limits=request.limits,
    ), []
