"""Turn a TaskSpec into raw train and validation datasets: built-in (local files or hub) or custom files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, DatasetDict, Sequence, Value, load_dataset

from worker.pruning.data.builtin import Benchmark, get_task
from worker.pruning.data.files import read_task_file
from worker.pruning.errors import TaskError
from worker.pruning.metrics import resolve_metric
from worker.pruning.types import TaskSpec, TaskType

_DEFAULT_METRIC: dict[TaskType, str] = {
    "classification": "accuracy",
    "regression": "spearman",
    "token-classification": "seqeval_f1",
}


@dataclass(frozen=True)
class RawTask:
    """A task's untokenized splits with the columns and metric to use; `origin` names files for errors."""

    type: TaskType
    text_fields: tuple[str, ...]
    label_field: str
    metric: str | None  # None: custom token task, decided from its tags
    train: Dataset
    validation: Dataset
    train_origin: str
    validation_origin: str


def resolve_source(spec: TaskSpec, max_row_bytes: int | None = None) -> RawTask:
    """Read the task `spec` describes; built-ins from local files take column names from the spec if given.

    `max_row_bytes` bounds each row of local files (see `datafiles`); the hub's datasets are trusted.
    """
    if spec.name is not None:
        return _builtin(spec, get_task(spec.name), max_row_bytes)
    return _custom(spec, max_row_bytes)


def _builtin(spec: TaskSpec, task: Benchmark, max_row_bytes: int | None) -> RawTask:
    """A built-in task from explicit files, from a data folder, or else from the hub."""
    if spec.type is not None and spec.type != task.type:
        raise TaskError(f"task {task.name} is a {task.type} task, not {spec.type}")
    metric = resolve_metric(spec.metric or task.metric, task.type)
    if spec.train_file is None and spec.validation_file is None and spec.data_dir is None:
        return _from_hub(task, metric)
    text_fields = spec.text_fields or task.text_fields
    label_field = spec.label_field or task.label_field
    train_path, validation_path = _builtin_paths(spec, task)
    # A custom column layout means the file has its own header, so the built-in names no longer apply.
    columns = task.column_names if not spec.text_fields and not spec.label_field else None
    paths = (train_path, validation_path)
    return _local(
        task.type,
        text_fields=text_fields,
        label_field=label_field,
        metric=metric,
        paths=paths,
        columns=columns,
        max_row_bytes=max_row_bytes,
    )


def _builtin_paths(spec: TaskSpec, task: Benchmark) -> tuple[Path, Path]:
    """Explicit files win; a data folder may be the task's own or a root laid out like ../shared/data."""
    if spec.train_file is not None or spec.validation_file is not None:
        return _require_files(spec)
    assert spec.data_dir is not None  # the caller took the hub path otherwise
    folder = spec.data_dir
    if not (folder / task.train_file).is_file() and (folder / task.folder / task.train_file).is_file():
        folder = folder / task.folder
    return folder / task.train_file, folder / task.validation_file


def _require_files(spec: TaskSpec) -> tuple[Path, Path]:
    """The spec's train and validation files, both required and present."""
    if spec.train_file is None:
        raise TaskError("the task has no training file")
    if spec.validation_file is None:
        raise TaskError(f"the task has no validation file (training file: {spec.train_file})")
    if not spec.train_file.is_file():
        raise TaskError(f"training file {spec.train_file} does not exist")
    if not spec.validation_file.is_file():
        raise TaskError(f"validation file {spec.validation_file} does not exist")
    return spec.train_file, spec.validation_file


def _custom(spec: TaskSpec, max_row_bytes: int | None) -> RawTask:
    """A custom task from local files with named columns."""
    if spec.type is None:
        raise TaskError(
            "a custom task (no built-in name) needs a type: classification, regression or "
            "token-classification"
        )
    train_path, validation_path = _require_files(spec)
    if spec.type == "token-classification":
        text_fields = spec.text_fields or ("tokens",)
        label_field = spec.label_field or "tags"
        if len(text_fields) != 1:
            raise TaskError(f"a token task reads one column of words, got text fields {list(text_fields)}")
    else:
        text_fields = spec.text_fields
        if not 1 <= len(text_fields) <= 2:
            raise TaskError(f"a {spec.type} task needs one or two text fields, got {list(text_fields)}")
        if not spec.label_field:
            raise TaskError(f"a {spec.type} task needs a label field")
        label_field = spec.label_field
    # Custom token tasks without a metric get seqeval only if their tags turn out to be IOB2.
    default = None if spec.type == "token-classification" else _DEFAULT_METRIC[spec.type]
    metric = resolve_metric(spec.metric, spec.type) if spec.metric else default
    paths = (train_path, validation_path)
    return _local(
        spec.type,
        text_fields=text_fields,
        label_field=label_field,
        metric=metric,
        paths=paths,
        columns=None,
        max_row_bytes=max_row_bytes,
    )


def _local(
    task_type: TaskType,
    *,
    text_fields: tuple[str, ...],
    label_field: str,
    metric: str | None,
    paths: tuple[Path, Path],
    columns: tuple[str, ...] | None,
    max_row_bytes: int | None,
) -> RawTask:
    """Read both local files (train, validation) through the same reader."""
    train_path, validation_path = paths
    if not train_path.is_file():
        raise TaskError(f"training file {train_path} does not exist")
    if not validation_path.is_file():
        raise TaskError(f"validation file {validation_path} does not exist")
    conll = task_type == "token-classification" and train_path.suffix.lower() in (".txt", ".conll")
    if conll and text_fields != ("tokens",):
        raise TaskError(
            f"{train_path}: the words of a CoNLL file are the column 'tokens', not {list(text_fields)}"
        )
    train = read_task_file(
        train_path, task_type, label_field=label_field, column_names=columns, max_row_bytes=max_row_bytes
    )
    validation = read_task_file(
        validation_path, task_type, label_field=label_field, column_names=columns, max_row_bytes=max_row_bytes
    )
    return RawTask(
        task_type, text_fields, label_field, metric, train, validation, str(train_path), str(validation_path)
    )


def _from_hub(task: Benchmark, metric: str) -> RawTask:
    """A built-in task from the Hugging Face hub; token tags become their names, as in the local files."""
    try:
        splits = _load_hub(task)
    except Exception as exc:  # network, auth and format failures all mean the same to the user
        raise TaskError(
            f"could not load {task.name} from the hub ({task.hub_path}): {exc}; "
            "point the task at local files with data_dir instead"
        ) from exc
    train, validation = splits["train"], splits["validation"]
    if task.type == "token-classification":
        names = train.features[task.hub_label_field].feature.names
        train, validation = (_tag_names(split, task.hub_label_field, names) for split in (train, validation))
    keep = [*task.hub_text_fields, task.hub_label_field]
    train, validation = (split.select_columns(keep) for split in (train, validation))
    origin = f"{task.hub_path}" + (f" ({task.hub_config})" if task.hub_config else "")
    return RawTask(
        task.type,
        task.hub_text_fields,
        task.hub_label_field,
        metric,
        train,
        validation,
        f"{origin} train",
        f"{origin} validation",
    )


def _load_hub(task: Benchmark) -> DatasetDict:
    """Load from the hub; script-based repos are read from their auto-converted parquet branch."""
    try:
        result = load_dataset(task.hub_path, task.hub_config)
    except RuntimeError as exc:
        if "script" not in str(exc).lower():
            raise
        result = load_dataset(task.hub_path, task.hub_config, revision="refs/convert/parquet")
    if not isinstance(result, DatasetDict):
        raise TypeError(f"expected named splits, got {type(result).__name__}")
    return result


def _tag_names(split: Dataset, column: str, names: list[str]) -> Dataset:
    """Replace tag ids by their names."""
    features = split.features.copy()
    # Without new features, map would encode the names straight back into ClassLabel ids.
    features[column] = Sequence(Value("string"))
    return split.map(lambda row: {column: [names[i] for i in row[column]]}, features=features)
