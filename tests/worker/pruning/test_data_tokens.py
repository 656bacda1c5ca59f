"""load_task on token tasks: CoNLL and JSON Lines, first-sub-token labels, -100 padding, prefix spaces."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from transformers import PreTrainedTokenizerBase

from tests.support.tiny_tokenizers import bert_tokenizer, roberta_tokenizer
from worker.pruning.data.load import load_task, word_tokenizer
from worker.pruning.types import Hyperparameters, TaskSpec

CONLL_TRAIN = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
lives VBZ B-VP O
in IN B-PP O
Paris NNP B-NP B-LOC
"""
CONLL_VALID = """
-DOCSTART- -X- -X- O

Peter NNP B-NP B-PER
rejects VBZ B-VP O
Paris NNP B-NP B-LOC
. . O O

German JJ B-NP B-MISC
cats NN I-NP O
sat VBZ B-VP O

EU NNP B-NP B-ORG
sat VBZ B-VP O
. . O O
"""


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> PreTrainedTokenizerBase:
    """The tiny fast WordPiece tokenizer."""
    return bert_tokenizer(tmp_path_factory.mktemp("bert"))


@pytest.fixture(scope="module")
def roberta(tmp_path_factory: pytest.TempPathFactory) -> PreTrainedTokenizerBase:
    """The tiny byte-level BPE tokenizer without a prefix space."""
    return roberta_tokenizer(tmp_path_factory.mktemp("roberta"))


def conll_spec(folder: Path, label_field: str = "ner", metric: str | None = None) -> TaskSpec:
    """A CoNLL-2003-like token task written to `folder`."""
    (folder / "train.txt").write_text(CONLL_TRAIN, encoding="utf-8")
    (folder / "valid.txt").write_text(CONLL_VALID, encoding="utf-8")
    return TaskSpec(
        type="token-classification",
        train_file=folder / "train.txt",
        validation_file=folder / "valid.txt",
        label_field=label_field,
        metric=metric,
    )


def test_conll_labels_go_to_first_subtokens(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """-DOCSTART- is skipped; a word's first sub-token carries its tag, later ones and specials get -100."""
    data = load_task(conll_spec(tmp_path), bert, Hyperparameters())
    assert (
        data.metric == "seqeval_f1" and len(data.train) == 2 and len(data.selection) + len(data.report) == 3
    )
    assert data.label_names == ["B-LOC", "B-MISC", "B-ORG", "B-PER", "O"]
    names = data.label_names
    tokens = bert.convert_ids_to_tokens(data.train[1]["input_ids"])
    tags = [names[i] if i != -100 else "-" for i in data.train[1]["labels"]]
    assert list(zip(tokens, tags, strict=True)) == [
        ("[CLS]", "-"),
        ("peter", "B-PER"),
        ("lives", "O"),
        ("in", "O"),
        ("paris", "B-LOC"),
        ("[SEP]", "-"),
    ]
    cats = next(row for row in data.selection.to_list() + data.report.to_list() if len(row["labels"]) == 6)
    assert bert.convert_ids_to_tokens(cats["input_ids"])[2:4] == ["cat", "##s"]
    assert [names[i] if i != -100 else "-" for i in cats["labels"]] == ["-", "B-MISC", "O", "-", "O", "-"]


def test_token_collator_pads_labels_with_minus_100(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """Padded label positions are -100, never 0 (0 is a real tag: the authors' bug)."""
    data = load_task(conll_spec(tmp_path), bert, Hyperparameters())
    batch = data.collator([data.train[0], data.train[1]])
    short = len(data.train[1]["input_ids"])
    assert batch["labels"].shape == batch["input_ids"].shape
    assert (batch["labels"][1, short:] == -100).all() and (batch["input_ids"][1, short:] == 0).all()


def test_token_scores_skip_ignored_positions(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """score() maps ids to tag names for seqeval and ignores -100; chance (all O) is 0."""
    data = load_task(conll_spec(tmp_path), bert, Hyperparameters())
    batch = data.collator([data.selection[i] for i in range(len(data.selection))])
    labels = batch["labels"].numpy()
    logits = np.eye(len(data.label_names or []))[np.where(labels == -100, 0, labels)]
    assert data.score(logits, labels) == 1.0 and data.chance_score == 0.0
    pos = load_task(conll_spec(tmp_path, "pos"), bert, Hyperparameters())
    assert pos.metric == "token_accuracy" and "NNP" in (pos.label_names or [])


def test_roberta_words_get_a_prefix_space(tmp_path: Path, roberta: PreTrainedTokenizerBase) -> None:
    """Byte-level BPE encodes each pre-split word as a word start; the caller's tokenizer is untouched."""
    data = load_task(conll_spec(tmp_path), roberta, Hyperparameters())
    assert data.tokenizer is not roberta and data.tokenizer is not None
    tokens = data.tokenizer.convert_ids_to_tokens(data.train[1]["input_ids"])
    assert tokens[0] == "<s>" and tokens[-1] == "</s>"
    assert all(
        token.startswith("Ġ")
        for token, label in zip(tokens, data.train[1]["labels"], strict=True)
        if label != -100
    )
    assert roberta.convert_ids_to_tokens(roberta("the cat")["input_ids"])[1] == "the"
    saved = tmp_path / "saved"
    data.tokenizer.save_pretrained(saved)
    assert json.loads((saved / "tokenizer_config.json").read_text())["add_prefix_space"] is True


def test_bert_tokenizer_is_used_as_is(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """WordPiece needs no prefix space: the same tokenizer object comes back."""
    assert word_tokenizer(bert) is bert
    assert load_task(conll_spec(tmp_path), bert, Hyperparameters()).tokenizer is bert


def test_custom_token_task_from_jsonl(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """JSON Lines with word and tag lists; non-IOB tags default to token accuracy."""
    rows = [
        {"words": ["the", "cat", "sat"], "pos": ["DT", "NN", "VBD"]},
        {"words": ["a", "dog"], "pos": ["DT", "NN"]},
    ]
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    spec = TaskSpec(
        type="token-classification",
        train_file=path,
        validation_file=path,
        text_fields=("words",),
        label_field="pos",
    )
    data = load_task(spec, bert, Hyperparameters())
    assert data.metric == "token_accuracy" and data.label_names == ["DT", "NN", "VBD"]
    assert data.train[0]["labels"] == [-100, 0, 1, 2, -100]
