"""Built-in tasks through a data folder laid out like ../shared/data, and through a stand-in hub."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from datasets import ClassLabel, Dataset, DatasetDict, Features, List, Value
from transformers import PreTrainedTokenizerBase

from tests.support.tiny_tokenizers import bert_tokenizer
from worker.pruning.data import sources
from worker.pruning.data.builtin import local_folder
from worker.pruning.data.load import load_task
from worker.pruning.errors import TaskError
from worker.pruning.types import Hyperparameters, TaskSpec

HP = Hyperparameters()
STSB_HEADER = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n"
NER_NAMES = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> PreTrainedTokenizerBase:
    """The tiny fast WordPiece tokenizer."""
    return bert_tokenizer(tmp_path_factory.mktemp("bert"))


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    """A data root with header-less CoLA, STS-B and CoNLL files in the shared layout."""
    cola = tmp_path / "glue" / "CoLA"
    cola.mkdir(parents=True)
    rows = "".join(
        f"gj04\t{i % 2}\t{'*' if i % 2 == 0 else ''}\tthe cat sat {'on the mat ' * i}\n" for i in range(6)
    )
    (cola / "train.tsv").write_text(rows, encoding="utf-8")
    (cola / "dev.tsv").write_text(rows, encoding="utf-8")
    stsb = tmp_path / "glue" / "STS-B"
    stsb.mkdir(parents=True)
    pairs = "".join(
        f"{i}\tmain\tx\t2012\t{i}\tnone\tnone\tthe cat\ta dog {'sat ' * i}\t{i / 2:.3f}\n" for i in range(6)
    )
    (stsb / "train.tsv").write_text(STSB_HEADER + pairs, encoding="utf-8")
    (stsb / "dev.tsv").write_text(STSB_HEADER + pairs, encoding="utf-8")
    conll = tmp_path / "conll2003"
    conll.mkdir()
    text = (
        "\n-DOCSTART- -X- -X- O\n\nPeter NNP B-NP B-PER\nsat VBD B-VP O\n\nthe DT B-NP O\nEU NNP I-NP B-ORG\n"
    )
    (conll / "train.txt").write_text(text, encoding="utf-8")
    (conll / "valid.txt").write_text(text, encoding="utf-8")
    return tmp_path


def test_headerless_cola_from_root_or_folder(root: Path, bert: PreTrainedTokenizerBase) -> None:
    """CoLA's columns are named by the registry; data_dir may be the root or the task's folder."""
    from_folder = load_task(TaskSpec(name="CoLA", data_dir=root / local_folder("cola")), bert, HP)
    from_root = load_task(TaskSpec(name="cola", data_dir=root), bert, HP)
    assert from_folder.metric == "matthews" and from_folder.label_names == ["0", "1"]
    assert from_folder.train.to_dict() == from_root.train.to_dict() and len(from_root.train) == 6
    assert bert.decode(from_root.train[0]["input_ids"]) == "[CLS] the cat sat [SEP]"
    override = load_task(TaskSpec(name="cola", data_dir=root, metric="accuracy"), bert, HP)
    assert override.metric == "accuracy"


def test_stsb_is_regression_on_the_score_column(root: Path, bert: PreTrainedTokenizerBase) -> None:
    """STS-B reads sentence1/sentence2 and the float `score`, scored by Spearman."""
    data = load_task(TaskSpec(name="sts-b", data_dir=root), bert, HP)
    assert (data.type, data.metric, data.num_labels) == ("regression", "spearman", 1)
    assert list(data.train["labels"]) == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


def test_conll_ner_and_pos_read_different_columns(root: Path, bert: PreTrainedTokenizerBase) -> None:
    """NER takes the last column, POS the second."""
    ner = load_task(TaskSpec(name="ner", data_dir=root), bert, HP)
    pos = load_task(TaskSpec(name="pos", data_dir=root), bert, HP)
    assert ner.label_names == ["B-ORG", "B-PER", "O"] and ner.metric == "seqeval_f1"
    assert pos.label_names == ["DT", "NNP", "VBD"] and pos.metric == "token_accuracy"


def test_missing_builtin_file_is_named(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """A data folder without the task's files says which file it looked for."""
    with pytest.raises(TaskError, match=r"training file .*train\.tsv does not exist"):
        load_task(TaskSpec(name="rte", data_dir=tmp_path), bert, HP)


def fake_hub(calls: list[tuple[Any, ...]], fail_first: Exception | None = None) -> Any:
    """A stand-in for datasets.load_dataset serving GLUE RTE and CoNLL-2003 shaped like the hub's."""

    def load(path: str, config: str | None = None, **kwargs: Any) -> DatasetDict:
        calls.append((path, config, kwargs.get("revision")))
        if fail_first is not None and len(calls) == 1:
            raise fail_first
        if path == "nyu-mll/glue":
            features = Features(
                {
                    "sentence1": Value("string"),
                    "sentence2": Value("string"),
                    "label": ClassLabel(names=["entailment", "not_entailment"]),
                    "idx": Value("int32"),
                }
            )
            rows = {
                "sentence1": ["the cat", "a dog", "the mat"],
                "sentence2": ["a cat", "the dog", "a mat"],
                "label": [1, 0, 1],
                "idx": [0, 1, 2],
            }
        else:
            features = Features(
                {
                    "id": Value("string"),
                    "tokens": List(Value("string")),
                    "pos_tags": List(ClassLabel(names=["NNP", "VBD", "DT"])),
                    "ner_tags": List(ClassLabel(names=NER_NAMES)),
                }
            )
            rows = {
                "id": ["0", "1"],
                "tokens": [["Peter", "sat"], ["the", "EU"]],
                "pos_tags": [[0, 1], [2, 0]],
                "ner_tags": [[1, 0], [0, 3]],
            }
        split = Dataset.from_dict(rows, features=features)
        return DatasetDict({"train": split, "validation": split})

    return load


def test_hub_glue_keeps_class_ids(monkeypatch: pytest.MonkeyPatch, bert: PreTrainedTokenizerBase) -> None:
    """Without data_dir, GLUE comes from nyu-mll/glue; its class ids order labels as the local files do."""
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(sources, "load_dataset", fake_hub(calls))
    data = load_task(TaskSpec(name="RTE"), bert, HP)
    assert calls == [("nyu-mll/glue", "rte", None)]
    assert data.label_names == ["0", "1"] and list(data.train["labels"]) == [1, 0, 1]


def test_hub_conll_tags_become_names(monkeypatch: pytest.MonkeyPatch, bert: PreTrainedTokenizerBase) -> None:
    """CoNLL-2003 tag ids are mapped to names; script repos fall back to the parquet branch."""
    calls: list[tuple[Any, ...]] = []
    scripts = RuntimeError("Dataset scripts are no longer supported, but found conll2003.py")
    monkeypatch.setattr(sources, "load_dataset", fake_hub(calls, scripts))
    data = load_task(TaskSpec(name="conll2003"), bert, HP)
    assert calls == [("eriktks/conll2003", None, None), ("eriktks/conll2003", None, "refs/convert/parquet")]
    assert data.label_names == ["B-ORG", "B-PER", "O"]
    names = data.label_names
    assert [names[i] for i in data.train[0]["labels"] if i != -100] == ["B-PER", "O"]


def test_hub_failure_is_a_task_error(monkeypatch: pytest.MonkeyPatch, bert: PreTrainedTokenizerBase) -> None:
    """An unreachable hub says so and points at data_dir."""
    monkeypatch.setattr(sources, "load_dataset", fake_hub([], ConnectionError("offline")))
    with pytest.raises(
        TaskError, match=r"could not load sst2 from the hub \(nyu-mll/glue\): offline.*data_dir"
    ):
        load_task(TaskSpec(name="sst2"), bert, HP)
