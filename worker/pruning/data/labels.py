"""Check a raw task's columns and turn its labels into ids (or floats), with errors that name the file."""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import Any

from datasets import Dataset

from worker.pruning.data.sources import RawTask
from worker.pruning.errors import TaskError

_INTEGER = re.compile(r"-?\d+")
_IOB_TAG = re.compile(r"O|[BI]-.+")

Texts = list[str] | list[list[str]]
Labels = list[int] | list[float] | list[list[int]]


@dataclass(frozen=True)
class EncodedTask:
    """Both splits as plain columns: one list per text field, labels as ids (floats for regression)."""

    train_texts: list[Texts]
    train_labels: Labels
    validation_texts: list[Texts]
    validation_labels: Labels
    label_names: list[str] | None
    metric: str


def encode_task(raw: RawTask) -> EncodedTask:
    """Validate columns and labels of both splits; label ids follow the sorted labels of the train split."""
    train_texts = [_texts(raw.train, field, raw.train_origin, raw.type) for field in raw.text_fields]
    val_texts = [_texts(raw.validation, field, raw.validation_origin, raw.type) for field in raw.text_fields]
    train_raw = _column(raw.train, raw.label_field, raw.train_origin)
    val_raw = _column(raw.validation, raw.label_field, raw.validation_origin)
    if raw.type == "regression":
        return EncodedTask(
            train_texts,
            _floats(train_raw, raw.train_origin),
            val_texts,
            _floats(val_raw, raw.validation_origin),
            None,
            raw.metric or "spearman",
        )
    if raw.type == "classification":
        train_names = _label_texts(train_raw, raw.train_origin)
        names = _vocabulary(train_names, raw.train_origin)
        val_names = _label_texts(val_raw, raw.validation_origin)
        return EncodedTask(
            train_texts,
            _ids(train_names, names, raw.train_origin),
            val_texts,
            _ids(val_names, names, raw.validation_origin),
            names,
            raw.metric or "accuracy",
        )
    train_tags = _tag_texts(train_raw, train_texts[0], raw.train_origin)
    val_tags = _tag_texts(val_raw, val_texts[0], raw.validation_origin)
    names = _vocabulary([tag for row in train_tags for tag in row], raw.train_origin)
    metric = _token_metric(raw.metric, names, raw.train_origin)
    return EncodedTask(
        train_texts,
        [_ids(row, names, raw.train_origin) for row in train_tags],
        val_texts,
        [_ids(row, names, raw.validation_origin) for row in val_tags],
        names,
        metric,
    )


def _column(split: Dataset, field: str, origin: str) -> list[Any]:
    """One column's values, or an error that lists the columns present."""
    if field not in split.column_names:
        raise TaskError(f"{origin}: no column {field!r}; columns present: {', '.join(split.column_names)}")
    return split[field][:]  # one slice: iterating a column reads it row by row


def _texts(split: Dataset, field: str, origin: str, task_type: str) -> Texts:
    """A text column: strings, or lists of words for token tasks."""
    values = _column(split, field, origin)
    if task_type != "token-classification":
        texts: list[str] = []
        for number, value in enumerate(values, start=1):
            if _label_text(value) is None:
                raise TaskError(f"{origin}: example {number} has no text in column {field!r}")
            texts.append(str(value))
        return texts
    words: list[list[str]] = []
    for number, value in enumerate(values, start=1):
        if not isinstance(value, list) or not value:
            raise TaskError(f"{origin}: example {number} needs a non-empty list of words in column {field!r}")
        words.append([str(word) for word in value])
    return words


def _label_text(value: object) -> str | None:
    """A label as text, integral numbers without a decimal point; None when missing or empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer():
        return str(int(float(value)))
    text = str(value).strip()
    return text or None


def _label_texts(values: list[Any], origin: str) -> list[str]:
    """Labels as text; a missing or empty label is an error naming the example."""
    texts = [_label_text(value) for value in values]
    for number, text in enumerate(texts, start=1):
        if text is None:
            raise TaskError(f"{origin}: example {number} has a missing or empty label")
    return [text for text in texts if text is not None]


def _vocabulary(labels: list[str], origin: str) -> list[str]:
    """The sorted distinct labels of the train split (numerically when all are integers)."""
    names = sorted(set(labels))
    if all(_INTEGER.fullmatch(name) for name in names):
        names.sort(key=int)
    if len(names) < 2:
        raise TaskError(f"{origin}: the labels need at least two distinct values, found {names}")
    return names


def _ids(labels: list[str], names: list[str], origin: str) -> list[int]:
    """Label ids; a label the train split never had is an error naming it."""
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(labels) - index.keys())
    if unknown:
        raise TaskError(f"{origin}: label(s) {unknown} do not occur in the training data (labels: {names})")
    return [index[label] for label in labels]


def _floats(values: list[Any], origin: str) -> list[float]:
    """Regression targets; an unparseable or non-finite value is an error naming it."""
    targets: list[float] = []
    for number, value in enumerate(values, start=1):
        if _label_text(value) is None:
            raise TaskError(f"{origin}: example {number} has a missing or empty label")
        try:
            target = float(value)
        except (TypeError, ValueError):
            message = f"{origin}: example {number} has a label that is not a number: {value!r}"
            raise TaskError(message) from None
        if not math.isfinite(target):
            raise TaskError(f"{origin}: example {number} has a label that is not finite: {value!r}")
        targets.append(target)
    return targets


def _tag_texts(values: list[Any], words: Texts, origin: str) -> list[list[str]]:
    """Per-word tags as text, one per word of the same example."""
    rows: list[list[str]] = []
    for number, (tags, sentence) in enumerate(zip(values, words, strict=True), start=1):
        if not isinstance(tags, list):
            raise TaskError(f"{origin}: example {number} needs a list of tags, got {tags!r}")
        if len(tags) != len(sentence):
            raise TaskError(f"{origin}: example {number} has {len(sentence)} words but {len(tags)} tags")
        texts = [_label_text(tag) for tag in tags]
        if None in texts:
            raise TaskError(f"{origin}: example {number}, word {texts.index(None) + 1} has a missing tag")
        rows.append([text for text in texts if text is not None])
    return rows


def _token_metric(metric: str | None, names: list[str], origin: str) -> str:
    """The token metric: seqeval needs IOB2 tags; without a choice, IOB2 tags get seqeval, others accuracy."""
    not_iob = [name for name in names if not _IOB_TAG.fullmatch(name)]
    if metric is None:
        return "token_accuracy" if not_iob else "seqeval_f1"
    if metric == "seqeval_f1" and not_iob:
        raise TaskError(f"{origin}: seqeval_f1 needs IOB2 tags (O, B-X, I-X), found {not_iob[:5]}")
    return metric
