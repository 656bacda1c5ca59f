"""Request and response bodies of the jobs API."""

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator

from secateur.kernel.hyperparameters import KNOBS
from secateur.kernel.vocabulary import (
    DEFAULT_BASELINE,
    DEFAULT_STRATEGY,
    FILE_PREFIX,
    MAX_LAYERS,
    BaselineMode,
    JobStatusName,
    Strategy,
    TaskType,
    canonical_task_name,
    is_hub_id,
)

_Metric = Annotated[str | None, Field(default=None, pattern=r"^[a-z0-9_-]{1,32}$")]


class _Strict(BaseModel):
    """Unknown fields are an error, and JSON types are not coerced (`true` or `"0.5"` is no number)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class BuiltinTask(_Strict):
    """A built-in benchmark task by name (or a common alias)."""

    name: str
    metric: _Metric = None

    @field_validator("name")
    @classmethod
    def _canonical(cls, value: str) -> str:
        """Map an alias to its canonical task name; unknown names are a 422."""
        return canonical_task_name(value)


class CustomTask(_Strict):
    """A task defined by uploaded dataset files and their column names."""

    type: TaskType
    train_file: str = Field(min_length=1, max_length=40)
    validation_file: str = Field(min_length=1, max_length=40)
    text_fields: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        default=None, min_length=1, max_length=2
    )
    label_field: str | None = Field(default=None, min_length=1, max_length=128)
    metric: _Metric = None


def _task_kind(value: Any) -> str:
    """Pick the task form by its keys: `name` means built-in, anything else is custom."""
    if isinstance(value, dict):
        return "builtin-task" if "name" in value else "custom-task"
    return "builtin-task" if isinstance(value, BuiltinTask) else "custom-task"


TaskIn = Annotated[
    Annotated[BuiltinTask, Tag("builtin-task")] | Annotated[CustomTask, Tag("custom-task")],
    Discriminator(_task_kind),
]


def _knob(name: str) -> Any:
    """The field of hyperparameter `name`: its default, bounds and meaning, read from the kernel."""
    knob = KNOBS[name]
    exclusive = knob.exclusive_minimum
    return Field(
        default=knob.default,
        gt=knob.minimum if exclusive else None,
        ge=None if exclusive else knob.minimum,
        le=knob.maximum,
        description=knob.doc,
    )


class HyperparametersIn(_Strict):
    """The fine-tuning budget; defaults are the paper authors'. Each field is the kernel's `KNOBS` entry."""

    epochs: int = _knob("epochs")
    candidate_epochs: int = _knob("candidate_epochs")
    repurpose_epochs: int = _knob("repurpose_epochs")
    learning_rate: float = _knob("learning_rate")
    weight_decay: float = _knob("weight_decay")
    batch_size: int = _knob("batch_size")
    eval_batch_size: int = _knob("eval_batch_size")
    max_selection_examples: int | None = _knob("max_selection_examples")
    max_length: int = _knob("max_length")
    seed: int = _knob("seed")
    max_train_examples: int | None = _knob("max_train_examples")
    candidate_train_examples: int | None = _knob("candidate_train_examples")
    shortlist: int = _knob("shortlist")
    max_train_examples_total: int | None = _knob("max_train_examples_total")


class JobCreate(_Strict):
    """The body of POST /v1/jobs."""

    model: str = Field(
        min_length=1, max_length=500, description="A hub model id, or a `file_…` model upload."
    )
    task: TaskIn
    retention: float = Field(gt=0, le=1, description="Keep pruning while score >= retention x baseline.")
    strategy: Strategy = DEFAULT_STRATEGY
    hyperparameters: HyperparametersIn = Field(default_factory=HyperparametersIn)
    metadata: dict[Annotated[str, Field(max_length=64)], Annotated[str, Field(max_length=512)]] = Field(
        default_factory=dict, max_length=16
    )
    baseline: BaselineMode = Field(
        default=DEFAULT_BASELINE,
        description="fine-tune: a fresh head trained on the task (the paper). as-is: the model is already "
        "fine-tuned for this task; its head is kept and scored without training (not with glp or top).",
    )
    allow_weak_baseline: bool = Field(
        default=False, description="Run on even when the full model does not beat chance (then warned)."
    )
    protected_layers: list[Annotated[int, Field(ge=0, le=MAX_LAYERS - 1)]] = Field(
        default_factory=list, max_length=MAX_LAYERS, description="Original layer indices never removed."
    )
    target_layers: int | None = Field(
        default=None, ge=1, le=MAX_LAYERS, description="Stop once the model has this many layers."
    )
    keep_depths: bool = Field(
        default=True, description="Keep every accepted depth's model for download from /artifacts."
    )
    dry_run: bool = Field(default=False, description="Return the cost estimate instead of creating the job.")
    layers: int | None = Field(
        default=None, ge=2, le=MAX_LAYERS, description="Dry run only: the model's layer count."
    )
    train_size: int | None = Field(
        default=None,
        ge=1,
        description="Dry run only: training examples per epoch (built-in tasks know theirs).",
    )

    @model_validator(mode="after")
    def _hints_only_for_dry_runs(self) -> "JobCreate":
        """`layers` and `train_size` describe a dry run; a real job learns them from its files."""
        for name in ("layers", "train_size"):
            if getattr(self, name) is not None and not self.dry_run:
                raise ValueError(f"{name} is only accepted with dry_run: true")
        return self

    @field_validator("model")
    @classmethod
    def _model_shape(cls, value: str) -> str:
        """Accept a `file_` id as is; otherwise require a well-formed hub id."""
        value = value.strip()
        if value.startswith(FILE_PREFIX):
            return value
        if not is_hub_id(value):
            raise ValueError("expected a hub id such as 'org/name' or 'name', or a file id 'file_…'")
        return value


class Progress(BaseModel):
    """How far a job has come."""

    round: int
    layers_total: int | None
    layers_remaining: int | None
    baseline_score: float | None
    current_score: float | None
    retained_fraction: float | None


class ArtifactInfo(BaseModel):
    """Size and digest of the pruned model archive."""

    bytes: int | None
    sha256: str | None


class WarningOut(BaseModel):
    """Something that makes the result mean less than it seems to."""

    code: str
    message: str


class LatencyOut(BaseModel):
    """The full and pruned model timed on the worker's own device (CPU numbers say cpu)."""

    device: str
    batch_size: int
    sequence_length: int
    runs: int
    full_ms: float
    pruned_ms: float
    speedup: float


class JobResult(BaseModel):
    """The outcome of a succeeded job (extra keys the worker writes are passed through)."""

    model_config = ConfigDict(extra="allow")

    layers_removed: int
    removed_layers: list[int]
    kept_layers: list[int]
    score: float
    report_score: float
    retained_fraction: float | None
    parameters_before: int
    parameters_after: int
    artifact: ArtifactInfo
    warnings: list[WarningOut] = Field(default_factory=list)
    latency: LatencyOut | None = None


class JobError(BaseModel):
    """Why a job failed and what to fix."""

    code: str
    message: str


class JobUrls(BaseModel):
    """Where to find the job's sub-resources."""

    self: str
    rounds: str
    events: str
    cancel: str
    artifact: str
    artifacts: str


class JobOut(BaseModel):
    """A job as the API shows it."""

    id: str
    object: Literal["job"] = "job"
    status: JobStatusName
    model: str
    task: dict[str, Any]
    strategy: Strategy
    retention: float
    hyperparameters: dict[str, Any]
    metadata: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    baseline: BaselineMode
    allow_weak_baseline: bool
    protected_layers: list[int]
    target_layers: int | None
    keep_depths: bool
    progress: Progress
    result: JobResult | None
    error: JobError | None
    warnings: list[WarningOut]
    urls: JobUrls


class JobList(BaseModel):
    """One page of jobs, newest first."""

    object: Literal["list"] = "list"
    data: list[JobOut]
    has_more: bool
