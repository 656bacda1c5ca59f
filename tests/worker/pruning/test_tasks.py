"""The built-in task registry: names, aliases and local folders."""

from __future__ import annotations

import pytest

from secateur.kernel.vocabulary import BUILTIN_TASKS
from worker.pruning.data.builtin import get_task, local_folder, resolve_task_name
from worker.pruning.errors import TaskError


def test_the_papers_seven_tasks_are_built_in() -> None:
    """The paper's seven tasks are named in the vocabulary, and the engine knows where each comes from."""
    assert set(BUILTIN_TASKS) == {"sst2", "cola", "mrpc", "rte", "stsb", "conll2003-ner", "conll2003-pos"}
    assert [get_task(name).name for name in BUILTIN_TASKS] == list(BUILTIN_TASKS)


@pytest.mark.parametrize(
    ("alias", "canonical"),
    [
        ("sst2", "sst2"),
        ("sst-2", "sst2"),
        ("SST-2", "sst2"),
        (" Sst2 ", "sst2"),
        ("sts-b", "stsb"),
        ("STS-B", "stsb"),
        ("CoLA", "cola"),
        ("MRPC", "mrpc"),
        ("rte", "rte"),
        ("ner", "conll2003-ner"),
        ("NER", "conll2003-ner"),
        ("conll2003", "conll2003-ner"),
        ("pos", "conll2003-pos"),
        ("CONLL2003-POS", "conll2003-pos"),
    ],
)
def test_aliases_resolve_case_insensitively(alias: str, canonical: str) -> None:
    """Common spellings map to the canonical name."""
    assert resolve_task_name(alias) == canonical


def test_unknown_task_lists_the_known_ones() -> None:
    """An unknown name is a TaskError that names it and lists the built-in tasks."""
    with pytest.raises(TaskError, match=r"unknown task 'squad'.*sst2.*conll2003-pos"):
        resolve_task_name("squad")


@pytest.mark.parametrize(
    ("name", "folder"),
    [
        ("sst2", "glue/SST-2"),
        ("cola", "glue/CoLA"),
        ("mrpc", "glue/MRPC"),
        ("rte", "glue/RTE"),
        ("sts-b", "glue/STS-B"),
        ("ner", "conll2003"),
        ("conll2003-pos", "conll2003"),
    ],
)
def test_local_folders_follow_the_shared_data_layout(name: str, folder: str) -> None:
    """Each task's folder is relative to a data root laid out like ../shared/data."""
    assert local_folder(name) == folder


def test_entries_carry_type_metric_and_hub_source() -> None:
    """Registry entries say how to read the task locally and from the hub."""
    mrpc = get_task("mrpc")
    assert (mrpc.type, mrpc.metric, mrpc.label_field) == ("classification", "f1", "Quality")
    assert mrpc.text_fields == ("#1 String", "#2 String")
    assert (mrpc.hub_path, mrpc.hub_config) == ("nyu-mll/glue", "mrpc")
    assert get_task("stsb").type == "regression" and get_task("stsb").metric == "spearman"
    assert get_task("cola").column_names == ("source", "label", "original_mark", "sentence")
    ner, pos = get_task("ner"), get_task("pos")
    assert (ner.type, ner.metric, ner.hub_label_field) == ("token-classification", "seqeval_f1", "ner_tags")
    assert (pos.metric, pos.hub_label_field, pos.hub_path) == (
        "token_accuracy",
        "pos_tags",
        "eriktks/conll2003",
    )
