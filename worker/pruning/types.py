"""The engine's public vocabulary: hyperparameters, task specs, round records and the observer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

Strategy = Literal["aglp", "glp", "top"]
TaskType = Literal["classification", "regression", "token-classification"]


@dataclass(frozen=True)
class Hyperparameters:
    """Fine-tuning budget; defaults are the authors' (3 epochs, AdamW 2e-5, wd 0.01, batch 16, len 256)."""

    epochs: int = 3
    candidate_epochs: int = 3
    repurpose_epochs: int = 3
    learning_rate: float = 2e-5
    weight_decay: float = 0.01
    batch_size: int = 16
    max_length: int = 256
    seed: int = 0
    max_train_examples: int | None = None
    eval_batch_size: int = 64
    # Candidates only rank layers: fine-tune each on a fixed sample of this many training examples
    # (None: the whole train set, as in the paper). The baseline and repurposing use the whole set.
    candidate_train_examples: int | None = None


@dataclass(frozen=True)
class TaskSpec:
    """What to learn: a built-in task name, or local files with named columns.

    `name` is one of the built-in tasks (sst2, cola, mrpc, rte, stsb, conll2003-ner, conll2003-pos).
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
    strategy: Strategy = "aglp"
    hyperparameters: Hyperparameters = field(default_factory=Hyperparameters)
    device: str | None = None  # None: CUDA when present, else CPU
    min_layers: int = 1
    run_to_end: bool = False  # keep pruning past the threshold (for curves); the result still obeys it
    limits: InputLimits = field(default_factory=InputLimits)  # the service sets them; `prune` runs unbounded


@dataclass(frozen=True)
class CandidateScore:
    """A candidate: the model with original layer `layer` removed, and its selection score."""

    layer: int
    score: float
    seconds: float = 0.0


@dataclass(frozen=True)
class RoundRecord:
    """Everything that happened in one round; layer numbers are always original indices."""

    round: int  # 1-based
    layers_before: int
    candidates: tuple[CandidateScore, ...]
    removed_layer: int | None
    score: float  # selection score of the model this round produced (after repurposing)
    report_score: float
    retained_fraction: float | None
    accepted: bool
    seconds: float
    train_examples: int


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


class Cancelled(Exception):
    """Raised inside the engine when the observer asks it to stop."""


class Observer(Protocol):
    """How the engine reports progress and learns it should stop; all methods must be cheap."""

    def on_baseline(self, score: float, report_score: float, layers_total: int) -> None: ...
    def on_candidate(self, round: int, layer: int, score: float, seconds: float) -> None: ...
    def on_round(self, record: RoundRecord) -> None: ...
    def on_checkpoint(self, directory: Path) -> None: ...
    def heartbeat(self) -> None: ...
    def should_stop(self) -> bool: ...


class NullObserver:
    """An observer that records nothing and never stops the engine."""

    def on_baseline(self, score: float, report_score: float, layers_total: int) -> None:
        pass

    def on_candidate(self, round: int, layer: int, score: float, seconds: float) -> None:
        pass

    def on_round(self, record: RoundRecord) -> None:
        pass

    def on_checkpoint(self, directory: Path) -> None:
        pass

    def heartbeat(self) -> None:
        pass

    def should_stop(self) -> bool:
        return False
