"""Metrics and chance levels, checked against values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from worker.pruning.errors import TaskError
from worker.pruning.metrics import (
    chance_score,
    compute_metric,
    predictions_from_logits,
    resolve_metric,
)


def test_accuracy() -> None:
    """Three of four right."""
    assert compute_metric("accuracy", np.array([0, 1, 1, 0]), np.array([0, 1, 0, 0])) == pytest.approx(0.75)


def test_f1_is_binary_for_two_classes_and_macro_for_more() -> None:
    """F1 of class 1 (MRPC's convention) for two labels; macro F1 beyond."""
    assert compute_metric("f1", np.array([1, 1, 0, 0]), np.array([1, 0, 1, 0]), ["0", "1"]) == pytest.approx(
        0.5
    )
    three = compute_metric("f1", np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), ["a", "b", "c"])
    assert three == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_matthews() -> None:
    """TP=1, TN=2, FP=0, FN=1 gives 2 / sqrt(12)."""
    value = compute_metric("matthews", np.array([1, 0, 0, 0]), np.array([1, 1, 0, 0]))
    assert value == pytest.approx(2 / np.sqrt(12))


def test_correlations() -> None:
    """Pearson sees linear relations, Spearman monotonic ones; constant predictions score 0, not NaN."""
    labels = np.array([1.0, 2.0, 3.0, 4.0])
    assert compute_metric("pearson", np.array([2.0, 4.0, 6.0, 8.0]), labels) == pytest.approx(1.0)
    assert compute_metric("pearson", np.array([4.0, 3.0, 2.0, 1.0]), labels) == pytest.approx(-1.0)
    curved = np.array([1.0, 10.0, 100.0, 1000.0])
    assert compute_metric("spearman", curved, labels) == pytest.approx(1.0)
    assert compute_metric("pearson", curved, labels) < 0.9
    assert compute_metric("spearman", np.full(4, 2.5), labels) == 0.0


def test_token_accuracy_skips_ignored_positions() -> None:
    """Positions labelled -100 do not count, whatever was predicted there."""
    labels = np.array([[0, -100, 1], [1, 1, -100]])
    predictions = np.array([[0, 5, 0], [1, 1, 7]])
    assert compute_metric("token_accuracy", predictions, labels) == pytest.approx(0.75)


def test_seqeval_scores_entities_not_tokens() -> None:
    """One of two PER entities found with the right span: precision = recall = F1 = 0.5."""
    names = ["B-PER", "I-PER", "O"]
    labels = np.array([[0, 1, 2], [2, 0, 2]])
    assert compute_metric("seqeval_f1", np.array([[0, 2, 2], [2, 0, 2]]), labels, names) == pytest.approx(0.5)
    padded = np.array([[0, 1, 2, -100]])
    assert compute_metric("seqeval_f1", np.array([[0, 1, 2, 0]]), padded, names) == pytest.approx(1.0)


def test_bad_inputs_are_refused() -> None:
    """Shape mismatches, empty labels and unknown metrics raise instead of scoring garbage."""
    with pytest.raises(ValueError, match="shape"):
        compute_metric("accuracy", np.array([0, 1]), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="no labels"):
        compute_metric("accuracy", np.array([]), np.array([]))
    with pytest.raises(ValueError, match="unknown metric"):
        compute_metric("bleu", np.array([0]), np.array([0]))


def test_chance_is_the_majority_label_score() -> None:
    """Predicting the majority label everywhere; 0 for Matthews and correlations."""
    assert chance_score("accuracy", np.array([0, 0, 1])) == pytest.approx(2 / 3)
    assert chance_score("f1", np.array([0, 0, 1]), ["0", "1"]) == 0.0
    assert chance_score("f1", np.array([1, 1, 0]), ["0", "1"]) == pytest.approx(0.8)
    assert chance_score("matthews", np.array([1, 1, 0])) == 0.0
    assert chance_score("spearman", np.array([0.1, 0.5, 0.9])) == 0.0
    tags = np.array([[2, 0, 2, -100], [2, 2, -100, -100]])
    assert chance_score("token_accuracy", tags) == pytest.approx(4 / 5)
    assert chance_score("seqeval_f1", tags, ["B-PER", "I-PER", "O"]) == 0.0


def test_predictions_from_logits() -> None:
    """Argmax over the last axis; regression takes the single output as the value."""
    assert predictions_from_logits("classification", np.array([[0.1, 0.9], [2.0, -1.0]])).tolist() == [1, 0]
    assert predictions_from_logits("regression", np.array([[0.5], [1.5]])).tolist() == [0.5, 1.5]
    assert predictions_from_logits("regression", np.array([0.5, 1.5])).tolist() == [0.5, 1.5]
    tokens = predictions_from_logits("token-classification", np.zeros((2, 3, 4)) + np.arange(4))
    assert tokens.shape == (2, 3) and (tokens == 3).all()


@pytest.mark.parametrize(
    ("metric", "task_type", "canonical"),
    [
        ("Accuracy", "classification", "accuracy"),
        ("mcc", "classification", "matthews"),
        ("spearmanr", "regression", "spearman"),
        ("accuracy", "token-classification", "token_accuracy"),
        ("f1", "token-classification", "seqeval_f1"),
        ("seqeval", "token-classification", "seqeval_f1"),
    ],
)
def test_metric_names_resolve_per_task_type(metric: str, task_type: str, canonical: str) -> None:
    """Common names map to the canonical metric of the task type."""
    assert resolve_metric(metric, task_type) == canonical  # type: ignore[arg-type]


def test_metric_that_does_not_fit_the_task_is_refused() -> None:
    """A regression metric on a classification task, or an unknown name, is a TaskError."""
    with pytest.raises(TaskError, match="does not fit a classification task; use one of: accuracy"):
        resolve_metric("pearson", "classification")
    with pytest.raises(TaskError, match="unknown metric 'bleu'"):
        resolve_metric("bleu", "regression")
