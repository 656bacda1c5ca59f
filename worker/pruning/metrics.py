"""Task metrics from scikit-learn, scipy and seqeval, and the chance level each metric starts from."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy.stats import pearsonr, spearmanr
from seqeval.metrics import f1_score as seqeval_f1_score
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

from worker.pruning.errors import TaskError
from worker.pruning.types import TaskType

IGNORE_INDEX = -100  # label of positions no metric or loss looks at (special tokens, later sub-tokens)

METRIC_TYPES: dict[str, TaskType] = {
    "accuracy": "classification",
    "f1": "classification",
    "matthews": "classification",
    "pearson": "regression",
    "spearman": "regression",
    "seqeval_f1": "token-classification",
    "token_accuracy": "token-classification",
}

# Names people commonly use, keyed by task type so that "accuracy" on a token task means token accuracy.
_ALIASES: dict[str, str] = {
    "acc": "accuracy",
    "mcc": "matthews",
    "matthews_correlation": "matthews",
    "matthews_corrcoef": "matthews",
    "pearsonr": "pearson",
    "spearmanr": "spearman",
    "seqeval": "seqeval_f1",
    "entity_f1": "seqeval_f1",
}
_TOKEN_ALIASES: dict[str, str] = {"accuracy": "token_accuracy", "acc": "token_accuracy", "f1": "seqeval_f1"}


def resolve_metric(metric: str, task_type: TaskType) -> str:
    """The canonical metric name for a task type, or a TaskError if the metric does not fit the task."""
    key = metric.strip().lower().replace("-", "_")
    if task_type == "token-classification":
        key = _TOKEN_ALIASES.get(key, key)
    key = _ALIASES.get(key, key)
    if key not in METRIC_TYPES:
        raise TaskError(f"unknown metric {metric!r}; known metrics: {', '.join(METRIC_TYPES)}")
    if METRIC_TYPES[key] != task_type:
        fitting = [name for name, kind in METRIC_TYPES.items() if kind == task_type]
        raise TaskError(
            f"metric {metric!r} does not fit a {task_type} task; use one of: {', '.join(fitting)}"
        )
    return key


def _binary_or_macro_f1(predictions: np.ndarray, labels: np.ndarray, num_labels: int) -> float:
    """F1 of class 1 for two classes (MRPC's convention), macro F1 for more."""
    if num_labels <= 2:
        return float(f1_score(labels, predictions, pos_label=1, average="binary", zero_division=0))
    return float(f1_score(labels, predictions, average="macro", zero_division=0))


def _correlation(fn: Callable[..., object], predictions: np.ndarray, labels: np.ndarray) -> float:
    """A scipy correlation; constant inputs have none, which counts as chance (0) instead of NaN."""
    if len(labels) < 2 or np.all(predictions == predictions[0]) or np.all(labels == labels[0]):
        return 0.0
    value = float(fn(predictions, labels)[0])  # type: ignore[index]
    return 0.0 if math.isnan(value) else value


def _token_sequences(
    predictions: np.ndarray, labels: np.ndarray, label_names: Sequence[str]
) -> tuple[list[list[str]], list[list[str]]]:
    """Per-sentence tag names for seqeval, leaving out positions labelled IGNORE_INDEX."""
    true_seqs: list[list[str]] = []
    pred_seqs: list[list[str]] = []
    for pred_row, label_row in zip(predictions, labels, strict=True):
        keep = label_row != IGNORE_INDEX
        true_seqs.append([label_names[i] for i in label_row[keep]])
        pred_seqs.append([label_names[i] for i in pred_row[keep]])
    return true_seqs, pred_seqs


def compute_metric(
    metric: str, predictions: np.ndarray, labels: np.ndarray, label_names: Sequence[str] | None = None
) -> float:
    """The metric of predicted ids (or values, for regression) against labels.

    Token metrics take (sentences, positions) arrays and skip positions whose label is IGNORE_INDEX;
    seqeval needs `label_names` (IOB2 tags) and scores entities the way conlleval does.
    """
    predictions = np.asarray(predictions)
    labels = np.asarray(labels)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {predictions.shape} and labels {labels.shape} differ in shape")
    if labels.size == 0:
        raise ValueError("no labels to score")
    if metric == "accuracy":
        return float(accuracy_score(labels, predictions))
    if metric == "f1":
        return _binary_or_macro_f1(predictions, labels, len(label_names) if label_names else 2)
    if metric == "matthews":
        return float(matthews_corrcoef(labels, predictions))
    if metric == "pearson":
        return _correlation(pearsonr, predictions.astype(np.float64), labels.astype(np.float64))
    if metric == "spearman":
        return _correlation(spearmanr, predictions.astype(np.float64), labels.astype(np.float64))
    if metric == "token_accuracy":
        keep = labels != IGNORE_INDEX
        return float(accuracy_score(labels[keep], predictions[keep]))
    if metric == "seqeval_f1":
        if not label_names:
            raise ValueError("seqeval_f1 needs the label names")
        true_seqs, pred_seqs = _token_sequences(predictions, labels, label_names)
        return float(seqeval_f1_score(true_seqs, pred_seqs, zero_division=0))
    raise ValueError(f"unknown metric {metric!r}; known metrics: {', '.join(METRIC_TYPES)}")


def predictions_from_logits(task_type: TaskType, logits: np.ndarray) -> np.ndarray:
    """Predicted ids (argmax over the last axis), or the predicted values for regression."""
    logits = np.asarray(logits)
    if task_type == "regression":
        return logits.reshape(logits.shape[0], -1)[:, 0] if logits.ndim > 1 else logits
    return logits.argmax(axis=-1)


def chance_score(metric: str, labels: np.ndarray, label_names: Sequence[str] | None = None) -> float:
    """The score of always predicting the most frequent label of `labels`; 0 for Matthews and correlations."""
    if metric in ("matthews", "pearson", "spearman"):
        return 0.0  # a constant predictor has no correlation with anything
    labels = np.asarray(labels)
    kept = labels[labels != IGNORE_INDEX]
    if kept.size == 0:
        raise ValueError("no labels to compute a chance level from")
    values, counts = np.unique(kept, return_counts=True)
    majority = values[int(np.argmax(counts))]  # ties go to the lowest id
    constant = np.where(labels == IGNORE_INDEX, IGNORE_INDEX, majority)
    return compute_metric(metric, constant, labels, label_names)
