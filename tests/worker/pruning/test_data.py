"""load_task on tiny local files: reading, label ids, splits, tokenization, collation and scoring."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import PreTrainedTokenizerBase

from tests.support.tiny_tokenizers import bert_tokenizer
from worker.pruning.data.load import SPLIT_SEED, TaskData, load_task
from worker.pruning.types import Hyperparameters, TaskSpec

SENTENCES = ["the cat sat", "a dog sat on the mat", "the film was good", "the film was not bad", "a cat"]


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> PreTrainedTokenizerBase:
    """The tiny fast WordPiece tokenizer."""
    return bert_tokenizer(tmp_path_factory.mktemp("bert"))


def write_tsv(path: Path, header: list[str], rows: Sequence[Sequence[object]], bom: bool = False) -> Path:
    """A tab-separated file with a header row."""
    lines = ["\t".join(header)] + ["\t".join(str(cell) for cell in row) for row in rows]
    path.write_text(("\ufeff" if bom else "") + "\n".join(lines) + "\n", encoding="utf-8")
    return path


def rte_like(folder: Path, dev_rows: int = 10) -> TaskSpec:
    """A pair task with string labels, as RTE has them."""
    labels = ["entailment", "not_entailment"]
    train = [[i, SENTENCES[i % 5], SENTENCES[(i + 1) % 5], labels[i % 2]] for i in range(20)]
    # Hypotheses of different lengths make every dev pair distinct.
    dev = [[i, SENTENCES[i % 5], " ".join(["a"] * (i + 1)), labels[(i // 3) % 2]] for i in range(dev_rows)]
    header = ["index", "sentence1", "sentence2", "label"]
    return TaskSpec(
        type="classification",
        train_file=write_tsv(folder / "train.tsv", header, train),
        validation_file=write_tsv(folder / "dev.tsv", header, dev),
        text_fields=("sentence1", "sentence2"),
        label_field="label",
    )


def test_string_labels_become_sorted_ids(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """Labels are ids in the sorted order of the train split's labels, and rows stay aligned with them."""
    data = load_task(rte_like(tmp_path), bert, Hyperparameters())
    assert data.type == "classification" and data.metric == "accuracy" and data.num_labels == 2
    assert data.label_names == ["entailment", "not_entailment"]
    assert list(data.train["labels"]) == [i % 2 for i in range(20)]
    assert data.train.column_names == ["input_ids", "token_type_ids", "attention_mask", "labels"]
    first = bert.decode(data.train[0]["input_ids"])
    assert first == "[CLS] the cat sat [SEP] a dog sat on the mat [SEP]"


def test_dev_split_is_a_fixed_half_independent_of_the_seed(
    tmp_path: Path, bert: PreTrainedTokenizerBase
) -> None:
    """Selection and report halve the dev set the same way for every hp.seed, and never overlap."""
    spec = rte_like(tmp_path, dev_rows=11)
    runs = [load_task(spec, bert, Hyperparameters(seed=seed)) for seed in (0, 1, 7)]
    for data in runs:
        assert (len(data.selection), len(data.report)) == (5, 6)
        assert data.selection["input_ids"] == runs[0].selection["input_ids"]
        assert data.report["input_ids"] == runs[0].report["input_ids"]
    keys = lambda d: {tuple(ids) for ids in d["input_ids"]}  # noqa: E731
    full = load_task(spec, bert, Hyperparameters())
    assert len(keys(full.selection) | keys(full.report)) == 11  # every dev pair used once (they are distinct)
    assert SPLIT_SEED == 0


def test_max_train_examples_draws_a_seeded_subset(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """The subset depends on hp.seed only, and is the same for the same seed."""
    spec = rte_like(tmp_path)
    a, b, c = (load_task(spec, bert, Hyperparameters(seed=s, max_train_examples=6)) for s in (3, 3, 4))
    assert len(a.train) == 6
    assert a.train["input_ids"] == b.train["input_ids"] and a.train["labels"] == b.train["labels"]
    assert a.train["input_ids"] != c.train["input_ids"]
    assert len(load_task(spec, bert, Hyperparameters(max_train_examples=500)).train) == 20


def test_max_selection_examples_scores_on_a_fixed_head_of_the_selection_half(
    tmp_path: Path, bert: PreTrainedTokenizerBase
) -> None:
    """The capped selection half is the whole half's head for every seed; the report half stays whole."""
    spec = rte_like(tmp_path, dev_rows=11)
    whole = load_task(spec, bert, Hyperparameters())
    capped = [load_task(spec, bert, Hyperparameters(seed=s, max_selection_examples=3)) for s in (0, 4)]
    for data in capped:
        assert len(data.selection) == 3
        assert data.selection["input_ids"] == whole.selection["input_ids"][:3]
        assert data.report["input_ids"] == whole.report["input_ids"]
    assert len(load_task(spec, bert, Hyperparameters(max_selection_examples=99)).selection) == 5


def test_pairs_truncate_longest_first(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """With max_length 8, the longer sentence of a pair is cut first, and nothing is padded."""
    data = load_task(rte_like(tmp_path), bert, Hyperparameters(max_length=8))
    assert max(len(ids) for ids in data.train["input_ids"]) == 8
    assert bert.decode(data.train[0]["input_ids"]) == "[CLS] the cat [SEP] a dog sat [SEP]"
    assert all(all(mask) for mask in data.train["attention_mask"])


def test_collator_pads_dynamically(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """A batch is padded to its longest example, with a mask; labels become a tensor."""
    data = load_task(rte_like(tmp_path), bert, Hyperparameters())
    rows = [data.train[i] for i in range(4)]
    batch = data.collator(rows)
    width = max(len(row["input_ids"]) for row in rows)
    assert batch["input_ids"].shape == (4, width) and batch["labels"].tolist() == [0, 1, 0, 1]
    assert batch["attention_mask"].sum().item() == sum(len(row["input_ids"]) for row in rows)
    torch_rows = [data.train.with_format("torch")[i] for i in range(4)]
    assert torch.equal(data.collator(torch_rows)["input_ids"], batch["input_ids"])


def test_score_and_chance(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """score() takes logits; the chance level is the majority-class accuracy of the selection half."""
    data = load_task(rte_like(tmp_path), bert, Hyperparameters())
    labels = np.array(data.selection["labels"])
    perfect = np.eye(2)[labels]
    assert data.score(perfect, labels) == 1.0
    assert data.score(1 - perfect, labels) == 0.0
    assert data.chance_score == pytest.approx(max(np.mean(labels), 1 - np.mean(labels)))


def test_glue_style_tsv_with_bom_and_stray_quotes(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """MRPC's BOM header, numeric string labels and unbalanced quotes are read as they are."""
    header = ["Quality", "#1 ID", "#2 ID", "#1 String", "#2 String"]
    rows = [[i % 2, i, i + 1, f'he said " the cat {i}', "a dog sat ."] for i in range(6)]
    spec = TaskSpec(
        type="classification",
        train_file=write_tsv(tmp_path / "train.tsv", header, rows, bom=True),
        validation_file=write_tsv(tmp_path / "dev.tsv", header, rows[:4], bom=True),
        text_fields=("#1 String", "#2 String"),
        label_field="Quality",
        metric="f1",
    )
    data = load_task(spec, bert, Hyperparameters())
    assert data.label_names == ["0", "1"] and data.metric == "f1" and len(data.train) == 6
    text = bert.decode(data.train[1]["input_ids"])
    assert isinstance(text, str) and text.startswith('[CLS] [UNK] [UNK] " the cat [UNK] [SEP]')


def test_csv_jsonl_and_tabbed_txt_read_alike(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """The same rows as CSV (with quoted commas), JSON Lines and a tab-separated .txt give the same data."""
    rows = [(f"the film, {i}", "good" if i % 3 else "bad") for i in range(9)]
    csv_text = "text,label\n" + "".join(f'"{t}",{lab}\n' for t, lab in rows)
    jsonl_text = "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows)
    txt_text = "text\tlabel\n" + "".join(f"{t}\t{lab}\n" for t, lab in rows)
    results = []
    for suffix, text in ((".csv", csv_text), (".jsonl", jsonl_text), (".txt", txt_text)):
        (tmp_path / f"train{suffix}").write_text(text, encoding="utf-8")
        spec = TaskSpec(
            type="classification",
            train_file=tmp_path / f"train{suffix}",
            validation_file=tmp_path / f"train{suffix}",
            text_fields=("text",),
            label_field="label",
        )
        results.append(load_task(spec, bert, Hyperparameters()))
    for data in results:
        assert data.label_names == ["bad", "good"]
        assert data.train["input_ids"] == results[0].train["input_ids"]
        assert data.train["labels"] == results[0].train["labels"]
    assert bert.decode(results[0].train[0]["input_ids"]) == "[CLS] the film, [UNK] [SEP]"


def test_regression_labels_are_float32(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """STS-B-like scores become float32 labels; the default metric is Spearman with chance 0."""
    header = ["sentence1", "sentence2", "score"]
    rows = [[SENTENCES[i % 5], SENTENCES[(i + 1) % 5], f"{i * 0.25:.2f}"] for i in range(8)]
    spec = TaskSpec(
        type="regression",
        train_file=write_tsv(tmp_path / "t.tsv", header, rows),
        validation_file=write_tsv(tmp_path / "d.tsv", header, rows),
        text_fields=("sentence1", "sentence2"),
        label_field="score",
    )
    data = load_task(spec, bert, Hyperparameters())
    assert (data.num_labels, data.label_names, data.metric, data.chance_score) == (1, None, "spearman", 0.0)
    assert data.train.features["labels"].dtype == "float32"
    batch = data.collator([data.train[i] for i in range(3)])
    assert batch["labels"].dtype == torch.float32 and batch["labels"].tolist() == [0.0, 0.25, 0.5]
    labels = np.array(data.selection["labels"])
    assert data.score((labels * 3 + 1)[:, None], labels) == pytest.approx(1.0)


def test_loading_is_deterministic(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """Same inputs and seed, same datasets and chance level."""
    spec = rte_like(tmp_path)
    hp = Hyperparameters(seed=5, max_train_examples=9)
    a, b = load_task(spec, bert, hp), load_task(spec, bert, hp)
    for split in ("train", "selection", "report"):
        assert getattr(a, split).to_dict() == getattr(b, split).to_dict()
    assert a.chance_score == b.chance_score
    assert isinstance(a, TaskData)
