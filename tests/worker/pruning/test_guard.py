"""The baseline guard, its warnings and measured latency, on tiny models and the keyword tasks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.synthetic import write_task_files
from worker.pruning import guard
from worker.pruning.engine import prune
from worker.pruning.guard import BaselineNotLearned
from worker.pruning.report import REPORT_FILE
from worker.pruning.types import Hyperparameters, PruneRequest

# A new user's first job: a regression task at a learning rate far too low, so the full model learns nothing.
WEAK = Hyperparameters(
    epochs=1, candidate_epochs=1, repurpose_epochs=0, learning_rate=1e-6, batch_size=16, max_length=32
)


@pytest.fixture(scope="module")
def regression(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The keyword regression task, small."""
    return write_task_files(tmp_path_factory.mktemp("regression"), "regression", n_train=64, n_eval=40)


def test_a_baseline_that_did_not_learn_fails_before_any_round(bert_dir: Path, regression: Any) -> None:
    """The full model's correlation does not beat chance by the margin: baseline_not_learned, saying why."""
    request = PruneRequest(
        model=str(bert_dir), task=regression, retention=0.9, hyperparameters=WEAK, device="cpu"
    )
    with pytest.raises(BaselineNotLearned) as caught:
        prune(request)
    assert caught.value.code == "baseline_not_learned"
    message = str(caught.value)
    for words in (
        "spearman",
        "chance is 0.0000",
        "bar is 0.1000",
        "epochs",
        "learning_rate",
        "more training data",
    ):
        assert words in message


def test_allow_weak_baseline_runs_on_and_says_so_in_result_and_report(
    bert_dir: Path, regression: Any, tmp_path: Path
) -> None:
    """The override runs the rounds; the weak baseline is a warning in the result and the report."""
    request = PruneRequest(
        model=str(bert_dir),
        task=regression,
        retention=0.9,
        hyperparameters=WEAK,
        device="cpu",
        min_layers=3,
        allow_weak_baseline=True,
        latency_runs=1,
    )
    result = prune(request, out_dir=tmp_path / "out")
    assert len(result.rounds) == 1
    # The one round's model, trained on, beats the untrained full model by more than 10% of it.
    assert [w.code for w in result.warnings] == ["weak_baseline", "undertrained_baseline"]
    report = json.loads((tmp_path / "out" / REPORT_FILE).read_text())
    assert "weak_baseline" in [w["code"] for w in report["warnings"]]
    assert report["latency"]["device"].startswith("cpu")
    assert result.latency is not None and result.latency.batch_size == WEAK.batch_size
    assert result.latency.sequence_length == WEAK.max_length
    assert result.latency.speedup == pytest.approx(result.latency.full_ms / result.latency.pruned_ms)


def test_the_learned_rule_is_a_share_of_the_headroom_above_chance() -> None:
    """Both halves must close 10% of the gap from chance to 1."""
    assert guard.learning_bar(0.5) == pytest.approx(0.55)
    assert guard.learned(0.56, 0.55, 0.5)
    assert not guard.learned(0.9, 0.54, 0.5)
    assert (
        guard.check_baseline(
            selection=0.9, report=0.9, chance=0.5, metric="accuracy", allow_weak=False, as_is=False
        )
        == []
    )
    warned = guard.check_baseline(
        selection=0.5, report=0.5, chance=0.5, metric="accuracy", allow_weak=True, as_is=False
    )
    assert [w.code for w in warned] == ["weak_baseline"]


def test_a_threshold_at_chance_and_a_pruned_model_beating_the_full_one_are_warnings() -> None:
    """F1 where 'always positive' passes the threshold; a pruned score far above an undertrained baseline."""
    at_chance = guard.threshold_warning(threshold=0.80, chance=0.81)
    assert at_chance is not None and at_chance.code == "threshold_at_chance"
    assert guard.threshold_warning(threshold=0.85, chance=0.81) is None
    # An undertrained 12-layer model: baseline 0.38 Pearson, 0.82 after two layers were removed.
    undertrained = guard.undertrained_warning(0.38, 0.38 * 0.9, [0.5, 0.82])
    assert undertrained is not None and undertrained.code == "undertrained_baseline"
    assert guard.undertrained_warning(0.38, 0.38 * 0.9, [0.39, 0.40]) is None
