"""Bad tasks and bad files: each is a clear error that names the problem and the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import PreTrainedTokenizerBase

from tests.support.tiny_tokenizers import bert_tokenizer, slow_bert_tokenizer
from worker.pruning.data.load import load_task
from worker.pruning.errors import ConfigError, ModelError, TaskError
from worker.pruning.types import Hyperparameters, TaskSpec, TaskType

HP = Hyperparameters()
GOOD_ROWS = "text\tlabel\nthe cat\t0\na dog\t1\nthe mat\t0\na film\t1\n"
CONLL = "the DT O\ncat NN O\n\nPeter NNP B-PER\nsat VBD O\n\na DT O\ndog NN O\n"


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> PreTrainedTokenizerBase:
    """The tiny fast WordPiece tokenizer."""
    return bert_tokenizer(tmp_path_factory.mktemp("bert"))


def files(folder: Path, train: str, dev: str | None = None, suffix: str = ".tsv") -> tuple[Path, Path]:
    """Write train and dev files (dev defaults to the train text)."""
    train_path, dev_path = folder / f"train{suffix}", folder / f"dev{suffix}"
    train_path.write_text(train, encoding="utf-8")
    dev_path.write_text(train if dev is None else dev, encoding="utf-8")
    return train_path, dev_path


def sentence_spec(paths: tuple[Path, Path], task_type: TaskType = "classification", **kw: object) -> TaskSpec:
    """A custom sentence task over `paths`, reading `text` and `label` unless told otherwise."""
    fields: dict[str, object] = {"text_fields": ("text",), "label_field": "label", **kw}
    return TaskSpec(type=task_type, train_file=paths[0], validation_file=paths[1], **fields)  # type: ignore[arg-type]


def token_spec(paths: tuple[Path, Path], **kw: object) -> TaskSpec:
    """A custom token task over `paths`."""
    return TaskSpec(type="token-classification", train_file=paths[0], validation_file=paths[1], **kw)  # type: ignore[arg-type]


def raises(
    spec: TaskSpec, tokenizer: PreTrainedTokenizerBase, pattern: str, hp: Hyperparameters = HP
) -> None:
    """load_task fails with a TaskError matching `pattern`."""
    with pytest.raises(TaskError, match=pattern):
        load_task(spec, tokenizer, hp)


def test_unknown_task_name(bert: PreTrainedTokenizerBase) -> None:
    """An unknown built-in lists the known ones."""
    raises(TaskSpec(name="squad"), bert, r"unknown task 'squad'; known tasks: sst2, cola")


def test_missing_column_is_named_with_the_columns_present(
    tmp_path: Path, bert: PreTrainedTokenizerBase
) -> None:
    """A text or label column that is not in the file is named, with the file and its columns."""
    paths = files(tmp_path, GOOD_ROWS)
    raises(
        sentence_spec(paths, text_fields=("sentence",)),
        bert,
        r"train\.tsv: no column 'sentence'; columns present: text, label",
    )
    raises(sentence_spec(paths, label_field="gold"), bert, r"no column 'gold'; columns present: text, label")


@pytest.mark.parametrize("suffix", [".tsv", ".csv", ".jsonl", ".txt"])
def test_empty_file(tmp_path: Path, bert: PreTrainedTokenizerBase, suffix: str) -> None:
    """A zero-byte file is named as empty."""
    raises(sentence_spec(files(tmp_path, "", GOOD_ROWS, suffix)), bert, rf"train{suffix} is empty")


def test_header_without_rows_has_no_examples(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """A header alone is no data."""
    raises(sentence_spec(files(tmp_path, GOOD_ROWS, "text\tlabel\n")), bert, r"dev\.tsv has no examples")


def test_conll_without_sentences(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """A CoNLL file of document markers and blank lines has no sentences."""
    paths = files(tmp_path, "-DOCSTART- -X- -X- O\n\n\n", CONLL, ".txt")
    raises(token_spec(paths, label_field="ner"), bert, r"train\.txt has no sentences")


def test_missing_or_empty_labels(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """An empty TSV cell or a JSON null label names the example."""
    raises(
        sentence_spec(files(tmp_path, GOOD_ROWS + "a cat\t\n")),
        bert,
        r"train\.tsv: example 5 has a missing or empty label",
    )
    rows = [{"text": "the cat", "label": "x"}, {"text": "a dog", "label": None}]
    jsonl = "".join(json.dumps(row) + "\n" for row in rows)
    raises(
        sentence_spec(files(tmp_path, jsonl, suffix=".jsonl")),
        bert,
        r"example 2 has a missing or empty label",
    )


def test_unparseable_regression_label(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """A score that is not a number is quoted in the error."""
    paths = files(tmp_path, "text\tscore\nthe cat\t0.5\na dog\thigh\n")
    raises(
        sentence_spec(paths, "regression", label_field="score"),
        bert,
        r"train\.tsv: example 2 has a label that is not a number: 'high'",
    )


def test_validation_file_missing(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """No validation file, or one that does not exist, is an error naming it."""
    train, _ = files(tmp_path, GOOD_ROWS)
    raises(
        TaskSpec(type="classification", train_file=train, text_fields=("text",), label_field="label"),
        bert,
        "no validation file",
    )
    raises(sentence_spec((train, tmp_path / "nope.tsv")), bert, r"validation file .*nope\.tsv does not exist")
    raises(sentence_spec((tmp_path / "gone.tsv", train)), bert, r"training file .*gone\.tsv does not exist")


def test_bad_file_extension(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """Unknown extensions, CSV for token tasks and tab-less .txt for sentence tasks are refused."""
    raises(
        sentence_spec(files(tmp_path, GOOD_ROWS, suffix=".xlsx")),
        bert,
        r"train\.xlsx: unsupported file extension '\.xlsx' for a classification task",
    )
    raises(
        token_spec(files(tmp_path, GOOD_ROWS, suffix=".csv")),
        bert,
        r"unsupported file extension '\.csv' for a token-classification task; use one of \.txt",
    )
    raises(
        sentence_spec(files(tmp_path, "text label\nthe cat 0\n", suffix=".txt")),
        bert,
        r"train\.txt: a \.txt file for a sentence task must be tab-separated",
    )


def test_too_few_dev_examples_to_split(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """One dev example cannot be halved into selection and report sets."""
    raises(
        sentence_spec(files(tmp_path, GOOD_ROWS, "text\tlabel\nthe cat\t0\n")),
        bert,
        r"dev\.tsv: needs at least 2 labelled examples to split .* found 1",
    )


def test_dev_label_not_in_train(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """A dev label the train split never had is named."""
    raises(
        sentence_spec(files(tmp_path, GOOD_ROWS, GOOD_ROWS + "a cat\t2\n")),
        bert,
        r"dev\.tsv: label\(s\) \['2'\] do not occur in the training data \(labels: \['0', '1'\]\)",
    )


def test_single_class_train(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """A classifier needs two classes."""
    raises(
        sentence_spec(files(tmp_path, "text\tlabel\nthe cat\tyes\na dog\tyes\n")),
        bert,
        r"train\.tsv: the labels need at least two distinct values, found \['yes'\]",
    )


def test_malformed_rows(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """A TSV row with extra fields, bad JSON Lines and ragged CoNLL lines name the file."""
    raises(sentence_spec(files(tmp_path, GOOD_ROWS + "a\tb\tc\n")), bert, r"train\.tsv could not be parsed")
    raises(
        sentence_spec(files(tmp_path, '{"text": "a", "label": 1}\n{oops\n', suffix=".jsonl")),
        bert,
        r"train\.jsonl is not valid JSON Lines",
    )
    mixed = '{"text": "a", "label": 1}\n{"text": "b", "label": [1]}\n'
    raises(
        sentence_spec(files(tmp_path, mixed, suffix=".jsonl")), bert, r"train\.jsonl: a column mixes kinds"
    )
    raises(
        token_spec(files(tmp_path, "the DT O\ncat O\n", suffix=".txt"), label_field="ner"),
        bert,
        r"train\.txt, line 2: expected 3 whitespace-separated columns \(word and tags\), found 2",
    )


def test_token_task_shape_errors(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """Words and tags must pair up; CoNLL words are `tokens`; the tag column must exist."""
    rows = [{"tokens": ["the", "cat"], "tags": ["O"]}]
    raises(
        token_spec(files(tmp_path, json.dumps(rows[0]) + "\n", suffix=".jsonl")),
        bert,
        r"train\.jsonl: example 1 has 2 words but 1 tags",
    )
    paths = files(tmp_path, CONLL, suffix=".txt")
    raises(token_spec(paths, text_fields=("words",)), bert, r"words of a CoNLL file are the column 'tokens'")
    raises(token_spec(paths, label_field="lemma"), bert, r"label field 'lemma' names no CoNLL tag column")
    raises(token_spec(paths, label_field="col5"), bert, r"asks for column 5, but the file has 3 columns")


def test_custom_task_needs_type_fields_and_fitting_metric(
    tmp_path: Path, bert: PreTrainedTokenizerBase
) -> None:
    """Without a name, the type and columns must be given; metrics must fit the task."""
    paths = files(tmp_path, GOOD_ROWS)
    raises(TaskSpec(train_file=paths[0], validation_file=paths[1]), bert, "custom task .* needs a type")
    raises(sentence_spec(paths, label_field=None), bert, "classification task needs a label field")
    raises(sentence_spec(paths, text_fields=("a", "b", "c")), bert, "needs one or two text fields")
    raises(
        sentence_spec(paths, metric="spearman"), bert, "metric 'spearman' does not fit a classification task"
    )
    raises(
        token_spec(files(tmp_path, CONLL, suffix=".txt"), label_field="pos", metric="seqeval_f1"),
        bert,
        r"seqeval_f1 needs IOB2 tags .*found \['DT'",
    )
    raises(
        TaskSpec(name="sst2", type="regression"), bert, "task sst2 is a classification task, not regression"
    )


def test_token_tasks_need_a_fast_tokenizer(tmp_path: Path) -> None:
    """Word ids only exist on fast tokenizers."""
    slow = slow_bert_tokenizer(tmp_path / "slow")
    raises(token_spec(files(tmp_path, CONLL, suffix=".txt")), slow, "token tasks need a fast tokenizer")


def test_bad_hyperparameters_and_tokenizer(tmp_path: Path, bert: PreTrainedTokenizerBase) -> None:
    """A non-positive subset size is a ConfigError; a tokenizer without padding is a ModelError."""
    spec = sentence_spec(files(tmp_path, GOOD_ROWS))
    with pytest.raises(ConfigError, match="max_train_examples must be an integer >= 1 or unset, got 0"):
        load_task(spec, bert, Hyperparameters(max_train_examples=0))
    unpadded = bert_tokenizer(tmp_path / "nopad")
    unpadded.pad_token = None
    with pytest.raises(ModelError, match="no padding token"):
        load_task(spec, unpadded, HP)
