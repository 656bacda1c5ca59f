"""Where the built-in tasks (named in the kernel's vocabulary) come from: columns, metric, files, hub."""

from __future__ import annotations

from dataclasses import dataclass

from secateur.kernel.vocabulary import canonical_task_name
from worker.pruning.errors import TaskError
from worker.pruning.types import TaskType


@dataclass(frozen=True)
class Benchmark:
    """One built-in task: its type, columns, default metric, local files and hub source."""

    name: str
    type: TaskType
    text_fields: tuple[str, ...]  # columns in the local files
    label_field: str
    metric: str
    folder: str  # relative to a data root laid out like ../shared/data
    train_file: str
    validation_file: str
    hub_path: str
    hub_config: str | None
    hub_text_fields: tuple[str, ...]
    hub_label_field: str
    column_names: tuple[str, ...] | None = None  # for header-less files (CoLA)


_GLUE = "nyu-mll/glue"
_CONLL = "eriktks/conll2003"

_TASKS: dict[str, Benchmark] = {
    task.name: task
    for task in (
        Benchmark(
            name="sst2",
            type="classification",
            text_fields=("sentence",),
            label_field="label",
            metric="accuracy",
            folder="glue/SST-2",
            train_file="train.tsv",
            validation_file="dev.tsv",
            hub_path=_GLUE,
            hub_config="sst2",
            hub_text_fields=("sentence",),
            hub_label_field="label",
        ),
        Benchmark(
            name="cola",
            type="classification",
            text_fields=("sentence",),
            label_field="label",
            metric="matthews",
            folder="glue/CoLA",
            train_file="train.tsv",
            validation_file="dev.tsv",
            hub_path=_GLUE,
            hub_config="cola",
            hub_text_fields=("sentence",),
            hub_label_field="label",
            column_names=("source", "label", "original_mark", "sentence"),
        ),
        Benchmark(
            name="mrpc",
            type="classification",
            text_fields=("#1 String", "#2 String"),
            label_field="Quality",
            metric="f1",
            folder="glue/MRPC",
            train_file="train.tsv",
            validation_file="dev.tsv",
            hub_path=_GLUE,
            hub_config="mrpc",
            hub_text_fields=("sentence1", "sentence2"),
            hub_label_field="label",
        ),
        Benchmark(
            name="rte",
            type="classification",
            text_fields=("sentence1", "sentence2"),
            label_field="label",
            metric="accuracy",
            folder="glue/RTE",
            train_file="train.tsv",
            validation_file="dev.tsv",
            hub_path=_GLUE,
            hub_config="rte",
            hub_text_fields=("sentence1", "sentence2"),
            hub_label_field="label",
        ),
        Benchmark(
            name="stsb",
            type="regression",
            text_fields=("sentence1", "sentence2"),
            label_field="score",
            metric="spearman",
            folder="glue/STS-B",
            train_file="train.tsv",
            validation_file="dev.tsv",
            hub_path=_GLUE,
            hub_config="stsb",
            hub_text_fields=("sentence1", "sentence2"),
            hub_label_field="label",
        ),
        # CoNLL column files are `word POS chunk NER`; the reader names the tag columns (see data/files.py).
        Benchmark(
            name="conll2003-ner",
            type="token-classification",
            text_fields=("tokens",),
            label_field="ner",
            metric="seqeval_f1",
            folder="conll2003",
            train_file="train.txt",
            validation_file="valid.txt",
            hub_path=_CONLL,
            hub_config=None,
            hub_text_fields=("tokens",),
            hub_label_field="ner_tags",
        ),
        Benchmark(
            name="conll2003-pos",
            type="token-classification",
            text_fields=("tokens",),
            label_field="pos",
            metric="token_accuracy",
            folder="conll2003",
            train_file="train.txt",
            validation_file="valid.txt",
            hub_path=_CONLL,
            hub_config=None,
            hub_text_fields=("tokens",),
            hub_label_field="pos_tags",
        ),
    )
}


def resolve_task_name(name: str) -> str:
    """The canonical name of a built-in task, accepting common aliases case-insensitively."""
    try:
        return canonical_task_name(name)
    except ValueError as exc:
        raise TaskError(str(exc)) from None


def get_task(name: str) -> Benchmark:
    """The registry entry of a built-in task, by name or alias."""
    return _TASKS[resolve_task_name(name)]


def local_folder(name: str) -> str:
    """The task's folder relative to a data root laid out like ../shared/data (e.g. `glue/SST-2`)."""
    return get_task(name).folder
