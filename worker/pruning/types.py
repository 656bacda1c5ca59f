"""The engine's request and result types, and the observer; the shared words come from the kernel."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from secateur.kernel.hyperparameters import Hyperparameters as Hyperparameters
from secateur.kernel.vocabulary import DEFAULT_BASELINE, DEFAULT_STRATEGY
from secateur.kernel.vocabulary import BaselineMode as BaselineMode
from secateur.kernel.vocabulary import Strategy as Strategy
from secateur.kernel.vocabulary import TaskType as TaskType

StopReason = Literal["threshold", "floor", "budget"]


@dataclass(frozen=True)
class TaskSpec:
    """What to learn: a built-in task name, or local files with named columns.

    `name` is one of the built-in tasks (`vocabulary.BUILTIN_TASKS`) or an alias of one.
    With `data_dir`, a built-in task reads its standard files from that folder (e.g. the GLUE TSVs);
    without it, it is loaded from the hub through `datasets`. Without `name`, `type`, `train_file`,
    `validation_file` and the field names describe a custom task.
    """

    name: str | None = None
    type: TaskType | None = None
    data_dir: Path | None = None
    train_file: Path | None = None
    validation_file: Path | None = None
    text_fields: tuple[str, ...] = ()
    label_field: str | None = None
    metric: str | None = None  # overrides the task's default metric


@dataclass(frozen=True)
class InputLimits:
    """Bounds on untrusted inputs, checked before anything is allocated; None leaves one unbounded."""

    max_vocab_size: int | None = None
    max_hidden_size: int | None = None
    max_layers: int | None = None
    max_intermediate_size: int | None = None
    max_position_embeddings: int | None = None
    max_row_bytes: int | None = None  # a dataset line, or a CoNLL sentence


@dataclass(frozen=True)
class PruneRequest:
    """One pruning job for the engine: model, task, retention threshold, strategy and budget."""

    model: str  # a local HF directory (safetensors weights) or a hub id
    task: TaskSpec
    retention: float = 0.95
    strategy: Strategy = DEFAULT_STRATEGY
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    device: str | None = None  # None: CUDA when present, else CPU
    min_layers: int = 1
    run_to_end: bool = False  # keep pruning past the threshold (for curves); the result still obeys it
    baseline: BaselineMode = DEFAULT_BASELINE
    allow_weak_baseline: bool = False  # run on even when the full model does not beat chance
    protected_layers: tuple[int, ...] = ()  # original indices that are never candidates
    target_layers: int | None = None  # stop once the model has this many layers
    latency_runs: int = 5  # timed forward passes per model (median); 0 skips the timing
    limits: InputLimits = field(default_factory=InputLimits)  # the service sets them; `prune` runs unbounded


@dataclass(frozen=True)
class Candidate:
    """A candidate: the model with original layer `layer` removed, and its selection scores.

    `score` is the fine-tuned selection score (None when the candidate was not fine-tuned); the
    zero-shot fields score the current model without the layer, untrained, where they were computed.
    """

    layer: int
    score: float | None
    seconds: float = 0.0
    zero_shot_score: float | None = None
    zero_shot_loss: float | None = None
    block_influence: float | None = None


@dataclass(frozen=True)
class RoundRecord:
    """Everything that happened in one round; layer numbers are always original indices."""

    round: int  # 1-based
    layers_before: int
    candidates: tuple[Candidate, ...]
    removed_layer: int | None
    score: float  # selection score of the model this round produced (after repurposing)
    report_score: float
    retained_fraction: float | None
    accepted: bool
    seconds: float
    train_examples: int
    zero_shot_top: bool | None = None  # the fine-tuned winner was the zero-shot favourite
    kendall_tau: float | None = None  # zero-shot vs fine-tuned ranking of the verified candidates


@dataclass(frozen=True)
class RunWarning:
    """Something that makes a result mean less than it seems to; `code` is stable."""

    code: str
    message: str


@dataclass(frozen=True)
class Latency:
    """Median forward time of the full and the pruned model on one batch, on the engine's device."""

    device: str  # "cpu" or "cuda:0 (NVIDIA H200)": CPU numbers are labelled as such
    batch_size: int
    sequence_length: int
    runs: int
    full_ms: float
    pruned_ms: float
    speedup: float


@dataclass(frozen=True)
class Depth:
    """An accepted round's model, saved in `directory`: its layers, scores, size and latency."""

    round: int
    layers: int
    kept_layers: tuple[int, ...]
    score: float
    report_score: float
    parameters: int
    latency_ms: float | None
    directory: Path


@dataclass(frozen=True)
class PruneResult:
    """The outcome: the last accepted model's layers and scores, and every round."""

    strategy: Strategy
    metric: str
    baseline_score: float
    baseline_report_score: float
    chance_score: float
    score: float
    report_score: float
    retained_fraction: float | None
    kept_layers: tuple[int, ...]
    removed_layers: tuple[int, ...]
    layers_total: int
    parameters_before: int
    parameters_after: int
    rounds: tuple[RoundRecord, ...]
    train_examples: int
    seconds: float
    baseline: BaselineMode = DEFAULT_BASELINE
    warnings: tuple[RunWarning, ...] = ()
    latency: Latency | None = None
    stopped_by: StopReason = "floor"
    # "train", "score": this process's examples, real tokens and rates (see batching.Meter.summary).
    throughput: dict[str, dict[str, float | int | None]] = field(default_factory=dict)


class Cancelled(Exception):
    """Raised inside the engine when the observer asks it to stop."""


class Observer(Protocol):
    """How the engine reports progress and learns it should stop; all methods must be cheap."""

    def on_baseline(self, score: float, report_score: float, layers_total: int) -> None: ...
    def on_candidate(self, rnd: int, layer: int, score: float, seconds: float) -> None: ...
    def on_round(self, record: RoundRecord) -> None: ...
    def on_checkpoint(self, directory: Path) -> None: ...
    def on_warning(self, warning: RunWarning) -> None: ...
    def on_depth(self, depth: Depth) -> None: ...
    def heartbeat(self) -> None: ...
    def should_stop(self) -> bool: ...


class NullObserver:
    """An observer that records nothing and never stops the engine."""

    def on_baseline(self, score: float, report_score: float, layers_total: int) -> None:
        pass

    def on_candidate(self, rnd: int, layer: int, score: float, seconds: float) -> None:
        pass

    def on_round(self, record: RoundRecord) -> None:
        pass

    def on_checkpoint(self, directory: Path) -> None:
        pass

    def on_warning(self, warning: RunWarning) -> None:
        pass

    def on_depth(self, depth: Depth) -> None:
        pass

    def heartbeat(self) -> None:
        pass

    def should_stop(self) -> bool:
        return False
