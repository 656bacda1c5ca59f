"""The engine's public vocabulary: hyperparameters, task specs, round records and the observer."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

Strategy = Literal["aglp", "aglp-shortlist", "glp", "top", "analyze"]
StopReason = Literal["threshold", "floor", "budget"]
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
    # aglp-shortlist: how many of the best zero-shot candidates each round fine-tunes.
    shortlist: int = 2
    # A round that would take the job's training examples past this total is not started.
    max_train_examples_total: int | None = None


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


@dataclass(frozen=True)
class CandidateScore:
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
    candidates: tuple[CandidateScore, ...]
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
    stopped_by: StopReason = "floor"
    # "train", "score": this process's examples, real tokens and rates (see batching.Meter.summary).
    throughput: dict[str, dict[str, float | int | None]] = field(default_factory=dict)


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
