"""The engine's entry point: `prune` runs AGLP, aglp-shortlist, GLP, top-layer dropping or the analysis.

Retention rule. A round is accepted while its selection score is at least
``threshold = baseline - (1 - retention) * |baseline|``. For a positive baseline that is
``retention * baseline``; for metrics that can be zero or negative (Matthews correlation) it still
asks for "no worse than baseline by a (1 - retention) share of its size". ``retained_fraction`` is
``score / baseline`` when the baseline is positive and None otherwise. The first rejected round ends
the job (``run_to_end`` keeps playing for curves, but no later round is accepted), and the result is
the model of the last accepted round, or the fine-tuned full model when none was.

Where we differ from the authors' AGLP code: every layer is a candidate, the current top layer
included (their selection slice never lets it win); ties go to the lowest original layer index; each
fine-tune builds a fresh optimizer and linear schedule (their copied scheduler left the rate
constant); ``repurpose_epochs = 0`` keeps the winning candidate's weights, which is what their code
ends up doing in effect.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from secateur.kernel.cost import Plan, layer_floor
from secateur.kernel.hyperparameters import first_problem
from secateur.kernel.vocabulary import STRATEGIES
from worker.pruning import baseline_cache, guard, resume
from worker.pruning.as_is import load_as_is
from worker.pruning.constraints import check_depth, check_plan, validate_constraints
from worker.pruning.depths import DepthKeeper
from worker.pruning.errors import ConfigError, ModelError
from worker.pruning.latency import compare, full_twin, timing_batch
from worker.pruning.report import build_report, write_report
from worker.pruning.resume import RunState, Slot
from worker.pruning.shortlist import ZERO_SHOT_ROUNDS
from worker.pruning.strategies import (
    ROUNDS,
    WALKING,
    Context,
    play,
    retained_fraction,
    save_checkpoint,
    threshold_for,
)
from worker.pruning.surgery import count_parameters, layer_count, load_model, read_config
from worker.pruning.train import TaskDataLike, derive_seed, evaluate, fine_tune, stop_if_asked
from worker.pruning.types import (
    Hyperparameters,
    Latency,
    NullObserver,
    Observer,
    PruneRequest,
    PruneResult,
    RunWarning,
    TaskSpec,
    TaskType,
)

if TYPE_CHECKING:
    from datasets import Dataset
    from transformers import PreTrainedTokenizerBase


def validate(request: PruneRequest) -> None:
    """Raise ConfigError naming the first field that is out of range."""
    if not isinstance(request.retention, int | float) or not 0 < request.retention <= 1:
        raise ConfigError(f"retention must be in (0, 1], got {request.retention!r}")
    if request.strategy not in STRATEGIES:
        raise ConfigError(f"strategy must be one of {', '.join(STRATEGIES)}, got {request.strategy!r}")
    if not isinstance(request.min_layers, int) or request.min_layers < 1:
        raise ConfigError(f"min_layers must be an integer >= 1, got {request.min_layers!r}")
    problem = first_problem(request.hyperparameters)
    if problem:
        raise ConfigError(problem)
    validate_constraints(request)


def resolve_device(name: str | None) -> torch.device:
    """The requested device, or CUDA when present, else the CPU."""
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"device {name!r} is not a valid torch device: {exc}") from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    return device


def _load_task(
    spec: TaskSpec, tokenizer: PreTrainedTokenizerBase, hp: Hyperparameters, max_row_bytes: int | None
) -> TaskDataLike:
    """The data layer's loader (imported late so the engine imports without it)."""
    from worker.pruning.data.load import load_task

    return load_task(spec, tokenizer, hp, max_row_bytes)


def _load_tokenizer(model: str) -> PreTrainedTokenizerBase:
    """The model's own tokenizer."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(model, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load a tokenizer from {model}: {exc}") from exc


def _candidate_sample(data: TaskDataLike, hp: Hyperparameters) -> Dataset | None:
    """The fixed training sample every candidate fine-tunes on, or None for the whole train set."""
    limit = hp.candidate_train_examples
    if limit is None or limit >= len(data.train):
        return None
    # One sample for all candidates of all rounds, so their scores differ by the layer removed only.
    return data.train.shuffle(seed=hp.seed).select(range(limit))


def _fine_tune_full(ctx: Context, data: TaskDataLike, full: Any) -> baseline_cache.Baseline:
    """Fine-tune the full model and score it on both dev halves."""
    hp = ctx.request.hyperparameters
    started = time.monotonic()
    model = copy.deepcopy(full) if ctx.pristine is not None else full
    seed = derive_seed(hp.seed, 0, 0, 0)
    examples = fine_tune(
        model, data, hp, hp.epochs, seed, ctx.device, ctx.observer, meter=ctx.meters["train"]
    )
    score = evaluate(model, data.selection, data, hp, ctx.device, ctx.observer, ctx.meters["score"])
    report = evaluate(model, data.report, data, hp, ctx.device, ctx.observer, ctx.meters["score"])
    return baseline_cache.Baseline(model, score, report, examples, time.monotonic() - started)


def _score_as_is(ctx: Context, data: TaskDataLike, full: Any) -> baseline_cache.Baseline:
    """Baseline as-is: the uploaded fine-tuned model, scored on both dev halves without training."""
    hp = ctx.request.hyperparameters
    started = time.monotonic()
    score = evaluate(full, data.selection, data, hp, ctx.device)
    report = evaluate(full, data.report, data, hp, ctx.device)
    return baseline_cache.Baseline(full, score, report, 0, time.monotonic() - started)


def _baseline(ctx: Context, data: TaskDataLike, full: Any, cache_dir: Path | None) -> RunState:
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


def _load_full(request: PruneRequest, data: TaskDataLike) -> tuple[Any, list[RunWarning]]:
    """The full model: pretrained with a fresh seeded head, or (as-is) the uploaded one with its head."""
    task_type = cast(TaskType, data.type)
    if request.baseline == "as-is":
        return load_as_is(request.model, task_type, data.label_names, request.limits)
    seed = request.hyperparameters.seed
    return load_model(request.model, task_type, data.num_labels, data.label_names, seed, request.limits), []


def _latency(request: PruneRequest, data: TaskDataLike, device: torch.device, model: Any) -> Latency | None:
    """The full architecture and the result timed at the job's batch size and max length (None: skipped)."""
    if request.latency_runs == 0:
        return None
    hp = request.hyperparameters
    batch = timing_batch(data, hp.batch_size, hp.max_length)
    # Latency ignores weights, so the full model need not be kept in memory through the rounds.
    return compare(full_twin(model, request.model), model, batch, device, request.latency_runs)


def prune(
    request: PruneRequest,
    observer: Observer | None = None,
    out_dir: Path | None = None,
    checkpoint_dir: Path | None = None,
    baseline_cache_dir: Path | None = None,
    depths_dir: Path | None = None,
) -> PruneResult:
    """Prune `request.model` on its task; optionally save the model and report, and checkpoint/resume.

    With `baseline_cache_dir`, the fine-tuned full model is taken from (or stored in) that cache, so
    runs that differ only in strategy, retention or candidate budget fine-tune it once. With
    `depths_dir`, every accepted round's model is saved there and handed to `observer.on_depth`.
    """
    started = time.monotonic()
    observer = observer or NullObserver()
    validate(request)
    device = resolve_device(request.device)
    hp = request.hyperparameters
    torch.manual_seed(hp.seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    read_config(request.model, request.limits)  # refuse a model that is too large before anything else
    # Loading checks for a cancel between stages, so one is seen within seconds, not at the first step.
    tokenizer = _load_tokenizer(request.model)
    stop_if_asked(observer, "after loading the tokenizer")
    data = _load_task(request.task, tokenizer, hp, request.limits.max_row_bytes)
    if data.type not in ("classification", "regression", "token-classification"):
        raise ConfigError(f"unknown task type {data.type!r}")
    task_type = cast(TaskType, data.type)
    stop_if_asked(observer, "after loading the data")
    full, warnings = _load_full(request, data)
    stop_if_asked(observer, "after loading the model")
    layers_total = layer_count(full.config)
    check_depth(request, layers_total)
    floor = layer_floor(request.min_layers, request.target_layers, len(request.protected_layers))
    plan = Plan.of(hp, layers_total, len(data.train), floor, fine_tune_baseline=request.baseline != "as-is")
    check_plan(request, plan)
    parameters_before = count_parameters(full)
    ctx = Context(
        request=request,
        data=data,
        device=device,
        observer=observer,
        pristine=None if request.strategy in WALKING else full,
        layers_total=layers_total,
        threshold=0.0,
        checkpoint_dir=checkpoint_dir,
        started=started,
        seconds_before=0.0,
        candidate_train=_candidate_sample(data, hp),
        plan=plan,
    )
    if depths_dir is not None:
        batch = timing_batch(data, hp.batch_size, hp.max_length) if request.latency_runs else None
        tok = getattr(data, "tokenizer", None) or tokenizer
        ctx.on_accept = DepthKeeper(depths_dir, tok, observer, batch, device, request.latency_runs)
    state = resume.load(checkpoint_dir, request, task_type) if checkpoint_dir else None
    fresh = state is None
    if state is None:
        state = _baseline(ctx, data, full, baseline_cache_dir)
    else:
        ctx.seconds_before = state.seconds
    ctx.threshold = threshold_for(state.baseline_score, request.retention)
    # Right after the baseline: a full model that did not learn ends the job before the rounds' cost.
    warnings += guard.check_baseline(
        state.baseline_score,
        state.baseline_report_score,
        data.chance_score,
        data.metric,
        request.allow_weak_baseline,
        request.baseline == "as-is",
    )
    at_chance = guard.threshold_warning(ctx.threshold, data.chance_score)
    warnings += [at_chance] if at_chance else []
    if fresh:
        for warning in warnings:
            observer.on_warning(warning)
        save_checkpoint(ctx, state)
    if ctx.pristine is None:
        del full
    stopped_by = play(ctx, state, {**ROUNDS, **ZERO_SHOT_ROUNDS})
    undertrained = guard.undertrained_warning(
        state.baseline_score, ctx.threshold, [r.score for r in state.rounds]
    )
    if undertrained is not None:
        warnings.append(undertrained)
        observer.on_warning(undertrained)
    result = state.slots["result"]
    removed = tuple(r.removed_layer for r in state.rounds if r.accepted and r.removed_layer is not None)
    outcome = PruneResult(
        strategy=request.strategy,
        metric=data.metric,
        baseline_score=state.baseline_score,
        baseline_report_score=state.baseline_report_score,
        chance_score=data.chance_score,
        score=result.score,
        report_score=result.report_score,
        retained_fraction=retained_fraction(result.score, state.baseline_score),
        kept_layers=tuple(result.kept),
        removed_layers=removed,
        layers_total=layers_total,
        parameters_before=parameters_before,
        parameters_after=count_parameters(result.model),
        rounds=tuple(state.rounds),
        train_examples=state.train_examples,
        seconds=ctx.seconds_before + time.monotonic() - started,
        baseline=request.baseline,
        warnings=tuple(warnings),
        latency=_latency(request, data, device, result.model),
        stopped_by=stopped_by,
        throughput={name: meter.summary() for name, meter in ctx.meters.items()},
    )
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        result.model.save_pretrained(out_dir, safe_serialization=True)
        # Token tasks tokenize with an adjusted copy (e.g. add_prefix_space): save the one used.
        (getattr(data, "tokenizer", None) or tokenizer).save_pretrained(out_dir)
        write_report(out_dir, build_report(outcome, request, device, ctx.threshold))
    return outcome
