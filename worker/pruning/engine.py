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

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch

from secateur.kernel.cost import Plan, layer_floor
from secateur.kernel.hyperparameters import first_problem
from secateur.kernel.vocabulary import STRATEGIES
from worker.pruning import baseline, guard, resume
from worker.pruning.candidates import CANDIDATE_ROUNDS, CandidateRunner, SequentialRunner
from worker.pruning.constraints import check_depth, check_plan, validate_constraints
from worker.pruning.depths import DepthKeeper
from worker.pruning.errors import ConfigError, ModelError
from worker.pruning.latency import compare, full_twin, timing_batch
from worker.pruning.report import build_report, write_report
from worker.pruning.resume import RunState
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
from worker.pruning.surgery import count_parameters, layer_count, read_config
from worker.pruning.train import TaskDataLike, stop_if_asked
from worker.pruning.types import (
    Hyperparameters,
    Latency,
    NullObserver,
    Observer,
    PruneRequest,
    PruneResult,
    RunWarning,
    StopReason,
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


def _latency(request: PruneRequest, data: TaskDataLike, device: torch.device, model: Any) -> Latency | None:
    """The full architecture and the result timed at the job's batch size and max length (None: skipped)."""
    if request.latency_runs == 0:
        return None
    hp = request.hyperparameters
    batch = timing_batch(data, hp.batch_size, hp.max_length)
    # Latency ignores weights, so the full model need not be kept in memory through the rounds.
    return compare(
        full_twin(model, request.model), model, batch=batch, device=device, runs=request.latency_runs
    )


def _outcome(
    ctx: Context,
    state: RunState,
    *,
    parameters_before: int,
    warnings: list[RunWarning],
    stopped_by: StopReason,
) -> PruneResult:
    """The result: the last accepted round's model (or the full one), its figures, and the whole run's."""
    result = state.slots["result"]
    removed = tuple(r.removed_layer for r in state.rounds if r.accepted and r.removed_layer is not None)
    return PruneResult(
        strategy=ctx.request.strategy,
        metric=ctx.data.metric,
        baseline_score=state.baseline_score,
        baseline_report_score=state.baseline_report_score,
        chance_score=ctx.data.chance_score,
        score=result.score,
        report_score=result.report_score,
        retained_fraction=retained_fraction(result.score, state.baseline_score),
        kept_layers=tuple(result.kept),
        removed_layers=removed,
        layers_total=ctx.layers_total,
        parameters_before=parameters_before,
        parameters_after=count_parameters(result.model),
        rounds=tuple(state.rounds),
        train_examples=state.train_examples,
        seconds=ctx.seconds_before + time.monotonic() - ctx.started,
        baseline=ctx.request.baseline,
        warnings=tuple(warnings),
        latency=_latency(ctx.request, ctx.data, ctx.device, result.model),
        stopped_by=stopped_by,
        throughput={name: meter.summary() for name, meter in ctx.meters.items()},
    )


def prune(
    request: PruneRequest,
    observer: Observer | None = None,
    *,
    out_dir: Path | None = None,
    checkpoint_dir: Path | None = None,
    baseline_cache_dir: Path | None = None,
    depths_dir: Path | None = None,
    candidate_runner: CandidateRunner | None = None,
) -> PruneResult:
    """Prune `request.model` on its task; optionally save the model and report, and checkpoint/resume.

    With `baseline_cache_dir`, the fine-tuned full model is taken from (or stored in) that cache, so
    runs that differ only in strategy, retention or candidate budget fine-tune it once. With
    `depths_dir`, every accepted round's model is saved there and handed to `observer.on_depth`.
    `candidate_runner` fine-tunes AGLP's and the shortlist's candidates (default: here, in turn).
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
    full, warnings = baseline.load_full(request, data)
    stop_if_asked(observer, "after loading the model")
    layers_total = layer_count(full.config)
    check_depth(request, layers_total)
    floor = layer_floor(request.min_layers, request.target_layers, len(request.protected_layers))
    plan = Plan.of(
        hp,
        layers=layers_total,
        train_size=len(data.train),
        min_layers=floor,
        fine_tune_baseline=request.baseline != "as-is",
    )
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
        runner=candidate_runner or SequentialRunner(),
    )
    if depths_dir is not None:
        batch = timing_batch(data, hp.batch_size, hp.max_length) if request.latency_runs else None
        tok = getattr(data, "tokenizer", None) or tokenizer
        ctx.on_accept = DepthKeeper(
            depths_dir,
            tokenizer=tok,
            observer=observer,
            batch=batch,
            device=device,
            runs=request.latency_runs,
        )
    state = resume.load(checkpoint_dir, request, task_type) if checkpoint_dir else None
    fresh = state is None
    if state is None:
        state = baseline.establish(ctx, data, full, baseline_cache_dir)
    else:
        ctx.seconds_before = state.seconds
    ctx.threshold = threshold_for(state.baseline_score, request.retention)
    # Right after the baseline: a full model that did not learn ends the job before the rounds' cost.
    warnings += guard.check_baseline(
        selection=state.baseline_score,
        report=state.baseline_report_score,
        chance=data.chance_score,
        metric=data.metric,
        allow_weak=request.allow_weak_baseline,
        as_is=request.baseline == "as-is",
    )
    at_chance = guard.threshold_warning(ctx.threshold, data.chance_score)
    warnings += [at_chance] if at_chance else []
    if fresh:
        for warning in warnings:
            observer.on_warning(warning)
        save_checkpoint(ctx, state)
    if ctx.pristine is None:
        del full
    stopped = play(ctx, state, {**ROUNDS, **CANDIDATE_ROUNDS, **ZERO_SHOT_ROUNDS})
    undertrained = guard.undertrained_warning(
        state.baseline_score, ctx.threshold, [r.score for r in state.rounds]
    )
    if undertrained is not None:
        warnings.append(undertrained)
        observer.on_warning(undertrained)
    outcome = _outcome(ctx, state, parameters_before=parameters_before, warnings=warnings, stopped_by=stopped)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        state.slots["result"].model.save_pretrained(out_dir, safe_serialization=True)
        # Token tasks tokenize with an adjusted copy (e.g. add_prefix_space): save the one used.
        (getattr(data, "tokenizer", None) or tokenizer).save_pretrained(out_dir)
        write_report(out_dir, build_report(outcome, request, device, ctx.threshold))
    return outcome
