"""Job cost before it runs: fine-tunes, training examples and time, for the chosen strategy and the others.

The cost rule is the kernel's (`secateur.kernel.cost`), the one the engine's budget applies, so the
estimate and the worker's budget check never disagree.
"""

from __future__ import annotations

import statistics
from typing import Any

from app.core.problems import InvalidField
from app.jobs.estimate_schemas import CostOut, JobEstimate, ThroughputOut
from secateur.kernel.cost import Plan, baseline_cost, estimate, layer_floor
from secateur.kernel.hyperparameters import Hyperparameters
from secateur.kernel.jobs.schemas import BuiltinTask, JobCreate
from secateur.kernel.vocabulary import BUILTIN_TRAIN_SIZES, STRATEGIES


def train_size(body: JobCreate) -> int | None:
    """Training examples per epoch when the API can know them: the hint, a built-in task, or the cap."""
    cap = body.hyperparameters.max_train_examples
    if body.train_size is not None:
        return body.train_size if cap is None else min(body.train_size, cap)
    if isinstance(body.task, BuiltinTask):
        size = BUILTIN_TRAIN_SIZES[body.task.name]
        return size if cap is None else min(size, cap)
    return cap  # a custom task: at most the cap ("the most a job can take")


def _plan(body: JobCreate, layers: int, size: int) -> Plan:
    """The engine's cost plan of this request: its floor and baseline mode count as they do in the engine."""
    return Plan.of(
        Hyperparameters(**body.hyperparameters.model_dump()),
        layers=layers,
        train_size=size,
        min_layers=layer_floor(1, body.target_layers, len(body.protected_layers)),
        fine_tune_baseline=body.baseline != "as-is",
    )


def check_budget(body: JobCreate, layers: int | None) -> None:
    """422 before any work: a shortlist deeper than the model, or a budget below the baseline."""
    hp = body.hyperparameters
    if layers is not None and body.strategy == "aglp-shortlist" and hp.shortlist > layers:
        raise InvalidField(
            "hyperparameters.shortlist", f"shortlist ({hp.shortlist}) exceeds the model's {layers} layers"
        )
    size = train_size(body) if body.train_size is not None or isinstance(body.task, BuiltinTask) else None
    if size is None or hp.max_train_examples_total is None:
        return
    need = baseline_cost(_plan(body, layers or 2, size)).train_examples
    if need > hp.max_train_examples_total:
        raise InvalidField(
            "hyperparameters.max_train_examples_total",
            f"{hp.max_train_examples_total} training examples cannot pay for the baseline fine-tune alone "
            f"({hp.epochs} epochs x {size} examples = {need})",
        )


def examples_per_second(results: list[dict[str, Any] | None]) -> tuple[float | None, int]:
    """The median training throughput the workers measured on recent finished jobs, and how many had one."""
    rates = []
    for result in results:
        rate = ((result or {}).get("throughput") or {}).get("train", {}).get("examples_per_second")
        if isinstance(rate, int | float) and rate > 0:
            rates.append(float(rate))
    return (statistics.median(rates) if rates else None), len(rates)


def build(body: JobCreate, recent_results: list[dict[str, Any] | None]) -> JobEstimate:
    """The dry run's answer: the most each strategy can cost this job, and time where throughput is known."""
    if body.layers is None:
        raise InvalidField(
            "layers", "a dry run needs the model's layer count: the API does not download models"
        )
    size = train_size(body)
    if size is None:
        raise InvalidField(
            "train_size", "a dry run of a custom task needs train_size or hyperparameters.max_train_examples"
        )
    check_budget(body, body.layers)
    plan = _plan(body, body.layers, size)
    rate, jobs = examples_per_second(recent_results)
    budget = body.hyperparameters.max_train_examples_total
    costs = []
    for strategy in STRATEGIES:
        if strategy == "aglp-shortlist" and body.hyperparameters.shortlist > body.layers:
            continue
        cost = estimate(strategy, plan)
        costs.append(
            CostOut(
                strategy=strategy,
                fine_tunes=cost.fine_tunes,
                train_examples=cost.train_examples,
                seconds=cost.train_examples / rate if rate else None,
                within_budget=None if budget is None else cost.train_examples <= budget,
            )
        )
    chosen = next(c for c in costs if c.strategy == body.strategy)
    return JobEstimate(
        strategy=body.strategy,
        layers=body.layers,
        train_size=size,
        estimate=chosen,
        strategies=costs,
        throughput=ThroughputOut(examples_per_second=rate, jobs=jobs),
    )
