"""Task data ready to train on: tokenized splits, the collator, the metric and its chance level."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset, Value
from tokenizers import Tokenizer
from transformers import (
    DataCollatorForTokenClassification,
    DataCollatorWithPadding,
    PreTrainedTokenizerBase,
)

from secateur.kernel.hyperparameters import first_problem
from worker.pruning.data.labels import EncodedTask, Labels, Texts, encode_task
from worker.pruning.data.sources import resolve_source
from worker.pruning.errors import ConfigError, ModelError, TaskError
from worker.pruning.metrics import IGNORE_INDEX, chance_score, compute_metric, predictions_from_logits
from worker.pruning.types import Hyperparameters, TaskSpec, TaskType

SPLIT_SEED = 0  # the selection/report split never depends on hp.seed, so scores compare across seeds


@dataclass
class TaskData:
    """A task's tokenized splits and how to score predictions on them."""

    type: TaskType
    metric: str
    num_labels: int  # 1 for regression
    label_names: list[str] | None  # id -> name; None for regression
    train: Dataset  # columns: input_ids, attention_mask, [token_type_ids], labels
    selection: Dataset  # one half of the labelled dev set (seed-0 50/50 split)
    report: Dataset  # the other half
    collator: Callable[[list[dict[str, Any]]], dict[str, torch.Tensor]]
    chance_score: float  # the metric of always predicting the majority label of `selection`
    tokenizer: PreTrainedTokenizerBase | None = None  # the tokenizer the splits were made with; save this one

    def score(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """The task metric of model outputs against labels; token positions labelled -100 are skipped.

        Token tasks take logits (sentences, positions, labels) and labels (sentences, positions).
        """
        predictions = predictions_from_logits(self.type, np.asarray(logits))
        labels = np.asarray(labels)
        if self.type == "token-classification" and labels.ndim == 1:
            predictions, labels = predictions.reshape(1, -1), labels.reshape(1, -1)
        return compute_metric(self.metric, predictions, labels, self.label_names)


def load_task(
    spec: TaskSpec, tokenizer: PreTrainedTokenizerBase, hp: Hyperparameters, max_row_bytes: int | None = None
) -> TaskData:
    """Read, check, split and tokenize the task `spec` describes; the same inputs give the same datasets.

    With `max_row_bytes`, a longer row of a local file is refused while reading, before tokenizing.
    """
    problem = first_problem(hp)
    if problem:
        raise ConfigError(problem)
    if tokenizer.pad_token is None:
        raise ModelError("the tokenizer has no padding token, so batches cannot be padded")
    raw = resolve_source(spec, max_row_bytes)
    encoded = encode_task(raw)
    train = _raw_dataset(encoded.train_texts, encoded.train_labels)
    validation = _raw_dataset(encoded.validation_texts, encoded.validation_labels)
    if len(validation) < 2:
        raise TaskError(
            f"{raw.validation_origin}: needs at least 2 labelled examples to split into "
            f"selection and report halves, found {len(validation)}"
        )
    halves = validation.train_test_split(test_size=0.5, shuffle=True, seed=SPLIT_SEED)
    if hp.max_train_examples is not None and hp.max_train_examples < len(train):
        train = train.shuffle(seed=hp.seed).select(range(hp.max_train_examples))

    collator: Any
    if raw.type == "token-classification":
        tokenizer = word_tokenizer(tokenizer)
        collator = DataCollatorForTokenClassification(tokenizer, label_pad_token_id=IGNORE_INDEX)
    else:
        collator = DataCollatorWithPadding(tokenizer)
    chosen = halves["train"]  # already shuffled by the split, so its head is a fixed random sample
    if hp.max_selection_examples is not None and hp.max_selection_examples < len(chosen):
        chosen = chosen.select(range(hp.max_selection_examples))
    selection = _tokenize(chosen, tokenizer, hp, raw.type)
    return TaskData(
        type=raw.type,
        metric=encoded.metric,
        num_labels=1 if encoded.label_names is None else len(encoded.label_names),
        label_names=encoded.label_names,
        train=_tokenize(train, tokenizer, hp, raw.type),
        selection=selection,
        report=_tokenize(halves["test"], tokenizer, hp, raw.type),
        collator=collator,
        chance_score=_chance(encoded, selection),
        tokenizer=tokenizer,
    )


def _raw_dataset(texts: list[Texts], labels: Labels) -> Dataset:
    """Untokenized columns text_0[, text_1] and labels, for splitting and subsetting."""
    columns: dict[str, Any] = {f"text_{i}": column for i, column in enumerate(texts)}
    columns["labels"] = labels
    return Dataset.from_dict(columns)


def _text_columns(split: Dataset) -> list[Any]:
    """The text columns of a raw split, in order."""
    # One slice per column: iterating a datasets column reads it row by row.
    return [split[name][:] for name in split.column_names if name.startswith("text_")]


def _tokenize(
    split: Dataset, tokenizer: PreTrainedTokenizerBase, hp: Hyperparameters, task_type: TaskType
) -> Dataset:
    """Tokenize a raw split the way its task type needs."""
    if task_type == "token-classification":
        return _tokenize_words(split, tokenizer, hp)
    return _tokenize_sentences(split, tokenizer, hp, task_type)


def _tokenize_sentences(
    split: Dataset, tokenizer: PreTrainedTokenizerBase, hp: Hyperparameters, task_type: TaskType
) -> Dataset:
    """Sentences (or pairs) to ids, truncated longest-first and left unpadded for the collator."""
    encoding = tokenizer(*_text_columns(split), truncation="longest_first", max_length=hp.max_length)
    columns: dict[str, Any] = dict(encoding)
    columns["labels"] = split["labels"][:]
    dataset = Dataset.from_dict(columns)
    if task_type == "regression":
        dataset = dataset.cast_column("labels", Value("float32"))
    return dataset


def _tokenize_words(split: Dataset, tokenizer: PreTrainedTokenizerBase, hp: Hyperparameters) -> Dataset:
    """Pre-split words to ids; each word's first sub-token carries its tag, the rest are -100."""
    (words,) = _text_columns(split)
    encoding = tokenizer(words, is_split_into_words=True, truncation=True, max_length=hp.max_length)
    columns: dict[str, Any] = dict(encoding)
    columns["labels"] = [
        _first_subtoken_labels(encoding.word_ids(i), tags) for i, tags in enumerate(split["labels"][:])
    ]
    return Dataset.from_dict(columns)


def _first_subtoken_labels(word_ids: list[int | None], tags: list[int]) -> list[int]:
    """Word tags spread over sub-tokens: the first sub-token of a word gets its tag, all else -100."""
    labels: list[int] = []
    previous: int | None = None
    for word in word_ids:
        labels.append(IGNORE_INDEX if word is None or word == previous else tags[word])
        previous = word
    return labels


def word_tokenizer(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """A tokenizer fit for pre-split words: fast (for word ids) and, if byte-level BPE, adding a prefix space.

    RoBERTa-style tokenizers mark word starts with a leading space; without it, every pre-split word would
    be encoded as if it continued the previous one. The caller's tokenizer is left as it is.
    """
    if not tokenizer.is_fast:
        name = type(tokenizer).__name__
        raise TaskError(f"token tasks need a fast tokenizer (for word ids), but {name} is a slow one")
    backend: Tokenizer = tokenizer.backend_tokenizer
    state = json.loads(backend.to_str())
    if not _enable_prefix_space(state.get("pre_tokenizer")):
        return tokenizer
    adjusted = copy.deepcopy(tokenizer)
    adjusted._tokenizer = Tokenizer.from_str(json.dumps(state))
    adjusted.add_prefix_space = True  # saved with the model, so inference splits words the same way
    adjusted.init_kwargs["add_prefix_space"] = True
    return adjusted


def _enable_prefix_space(node: Any) -> bool:
    """Turn on add_prefix_space in every ByteLevel pre-tokenizer of a serialized tokenizer; True if any."""
    changed = False
    if isinstance(node, dict):
        if node.get("type") == "ByteLevel" and node.get("add_prefix_space") is False:
            node["add_prefix_space"] = True
            changed = True
        for value in node.values():
            changed = _enable_prefix_space(value) or changed
    elif isinstance(node, list):
        for value in node:
            changed = _enable_prefix_space(value) or changed
    return changed


def _chance(encoded: EncodedTask, selection: Dataset) -> float:
    """The metric's chance level on the tokenized selection half."""
    if encoded.label_names is None:
        return chance_score(encoded.metric, np.asarray(selection["labels"][:]))
    labels = selection["labels"][:]
    if isinstance(labels[0], list):
        width = max(len(row) for row in labels)
        labels = [row + [IGNORE_INDEX] * (width - len(row)) for row in labels]
    return chance_score(encoded.metric, np.asarray(labels), encoded.label_names)
