"""End-to-end engine runs on tiny models and the keyword task, read through the real data layer."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

from tests.support.engine_runs import HP, Recorder, prune_request
from tests.support.synthetic import timeless, tiny_tokenizer, write_task_files
from worker.pruning import baseline, strategies
from worker.pruning.data.load import load_task
from worker.pruning.engine import prune
from worker.pruning.errors import ConfigError
from worker.pruning.surgery import count_parameters, layer_count
from worker.pruning.train import evaluate
from worker.pruning.types import (
    Cancelled,
    PruneResult,
)


@pytest.fixture(scope="module")
def task_specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The keyword task as local files, for each task type."""
    root = tmp_path_factory.mktemp("tasks")
    return {
        k: write_task_files(root / k, k) for k in ("classification", "regression", "token-classification")
    }


def _check_consistent(result: PruneResult, retention: float) -> None:
    """Every round record agrees with the retention rule and the result with its rounds."""
    threshold = result.baseline_score - (1 - retention) * abs(result.baseline_score)
    rejected = False
    for r in result.rounds:
        best = max(r.candidates, key=lambda c: (c.score, -c.layer))
        if len(r.candidates) > 1:
            assert r.removed_layer == best.layer
        assert r.retained_fraction == pytest.approx(r.score / result.baseline_score)
        assert r.accepted == (not rejected and r.score >= threshold)
        rejected = rejected or not r.accepted
    accepted = [r for r in result.rounds if r.accepted]
    assert result.removed_layers == tuple(r.removed_layer for r in accepted)
    assert sorted(result.kept_layers + result.removed_layers) == list(range(result.layers_total))
    assert result.score == (accepted[-1].score if accepted else result.baseline_score)


def test_aglp_prunes_redundant_layers_and_saves_a_reloadable_model(
    bert_dir: Path, task_specs: dict[str, Any], tmp_path: Path
) -> None:
    """AGLP learns, removes layers, records consistent rounds; the artifact reloads smaller and equal."""
    result = prune(
        prune_request(bert_dir, task_specs["classification"], retention=0.9), out_dir=tmp_path / "out"
    )
    assert result.baseline_score > result.chance_score + 0.2
    assert len(result.removed_layers) >= 1
    assert result.rounds[0].layers_before == 4 and len(result.rounds[0].candidates) == 4
    _check_consistent(result, 0.9)
    assert result.parameters_after < result.parameters_before
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path / "out")
    assert layer_count(reloaded.config) == len(result.kept_layers)
    assert count_parameters(reloaded) == result.parameters_after
    data = load_task(task_specs["classification"], tiny_tokenizer(), HP)
    assert evaluate(reloaded, data.selection, data, HP, device=torch.device("cpu")) == result.score
    report = json.loads((tmp_path / "out" / "pruning_report.json").read_text())
    assert report["kept_layers"] == list(result.kept_layers)
    assert len(report["rounds"]) == len(result.rounds) and report["seed"] == 0
    assert {"torch", "transformers", "datasets", "python"} <= set(report["versions"])


def test_aglp_stops_at_the_threshold(
    bert_dir: Path, task_specs: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With scores fixed by depth, the first round under the threshold ends the job; ties go low."""
    by_depth = {4: 0.9, 3: 0.88, 2: 0.8, 1: 0.87}

    def fake_evaluate(model: Any, *args: Any, **kwargs: Any) -> float:
        return by_depth[layer_count(model.config)]

    for module in (baseline, strategies):
        monkeypatch.setattr(module, "evaluate", fake_evaluate)
        monkeypatch.setattr(module, "fine_tune", lambda *args, **kwargs: 0)
    spec = task_specs["classification"]
    result = prune(prune_request(bert_dir, spec, retention=0.95))  # threshold 0.855
    assert [r.accepted for r in result.rounds] == [True, False]
    assert result.removed_layers == (0,) and result.kept_layers == (1, 2, 3) and result.score == 0.88
    full = prune(prune_request(bert_dir, spec, retention=0.95, run_to_end=True))
    assert [r.accepted for r in full.rounds] == [True, False, False]  # 0.87 passes, but after a failure
    assert [r.removed_layer for r in full.rounds] == [0, 1, 2]
    assert full.kept_layers == result.kept_layers
    _check_consistent(full, 0.95)


@pytest.mark.parametrize("strategy", ["glp", "top"])
def test_glp_and_top_give_valid_results(bert_dir: Path, task_specs: dict[str, Any], strategy: str) -> None:
    """The baselines play one round per removed layer and return a consistent result."""
    request = prune_request(
        bert_dir,
        task_specs["classification"],
        retention=0.9,
        strategy=strategy,
        run_to_end=True,
        min_layers=2,
    )
    result = prune(request)
    assert len(result.rounds) == 2
    _check_consistent(result, 0.9)
    if strategy == "top":
        assert [r.removed_layer for r in result.rounds] == [3, 2]
        assert all(len(r.candidates) == 1 for r in result.rounds)
    else:
        assert [len(r.candidates) for r in result.rounds] == [4, 3]
        assert len({r.removed_layer for r in result.rounds}) == 2


@pytest.mark.parametrize("kind", ["regression", "token-classification"])
def test_regression_and_token_tasks_run_end_to_end(
    bert_dir: Path, task_specs: dict[str, Any], kind: str, tmp_path: Path
) -> None:
    """Regression and token classification learn, prune and save a reloadable model."""
    request = prune_request(bert_dir, task_specs[kind], retention=0.8, min_layers=3)
    result = prune(request, out_dir=tmp_path / "out")
    assert result.baseline_score > result.chance_score
    assert len(result.rounds) == 1
    _check_consistent(result, 0.8)
    auto = (
        AutoModelForTokenClassification
        if kind == "token-classification"
        else AutoModelForSequenceClassification
    )
    reloaded = auto.from_pretrained(tmp_path / "out")
    assert layer_count(reloaded.config) == len(result.kept_layers)


def test_same_seed_gives_identical_rounds(bert_dir: Path, task_specs: dict[str, Any]) -> None:
    """Two runs with the same seed make the same choices with the same scores."""
    request = prune_request(
        bert_dir,
        task_specs["classification"],
        retention=0.9,
        min_layers=2,
        hyperparameters=dataclasses.replace(HP, repurpose_epochs=0),
    )
    first, second = prune(request), prune(request)
    assert timeless(first.rounds) == timeless(second.rounds)
    assert first.baseline_score == second.baseline_score


def test_interrupted_run_resumes_to_the_same_result(
    bert_dir: Path, task_specs: dict[str, Any], tmp_path: Path
) -> None:
    """Cancelled after round 1, a rerun on the same checkpoint dir finishes exactly like a clean run."""
    request = prune_request(
        bert_dir, task_specs["classification"], retention=0.9, min_layers=1, run_to_end=True
    )
    clean = prune(request)
    first = Recorder(stop_after=1)
    with pytest.raises(Cancelled):
        prune(request, first, checkpoint_dir=tmp_path / "ckpt")
    assert ("checkpoint", "step-0001") in first.calls
    second = Recorder()
    resumed = prune(request, second, checkpoint_dir=tmp_path / "ckpt")
    assert not any(name == "baseline" for name, _ in second.calls)
    assert [v for name, v in second.calls if name == "round"] == [2, 3]
    assert timeless(resumed.rounds) == timeless(clean.rounds)
    assert resumed.removed_layers == clean.removed_layers and resumed.score == clean.score
    other = dataclasses.replace(request, retention=0.5)
    with pytest.raises(ConfigError, match="different request"):
        prune(other, checkpoint_dir=tmp_path / "ckpt")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"retention": 0.0}, "retention"),
        ({"retention": 1.5}, "retention"),
        ({"strategy": "random"}, "strategy"),
        ({"min_layers": 0}, "min_layers"),
        ({"hyperparameters": dataclasses.replace(HP, epochs=0)}, "epochs"),
        ({"hyperparameters": dataclasses.replace(HP, batch_size=0)}, "batch_size"),
        ({"hyperparameters": dataclasses.replace(HP, learning_rate=-1.0)}, "learning_rate"),
        ({"hyperparameters": dataclasses.replace(HP, repurpose_epochs=-1)}, "repurpose_epochs"),
        (
            {"hyperparameters": dataclasses.replace(HP, candidate_train_examples=0)},
            "candidate_train_examples",
        ),
    ],
)
def test_bad_requests_name_the_field(
    bert_dir: Path, task_specs: dict[str, Any], change: dict[str, Any], field: str
) -> None:
    """Out-of-range retention, strategy, depth or hyperparameters raise ConfigError naming the field."""
    request = dataclasses.replace(prune_request(bert_dir, task_specs["classification"]), **change)
    with pytest.raises(ConfigError, match=field):
        prune(request)


def test_min_layers_must_leave_something_to_prune(bert_dir: Path, task_specs: dict[str, Any]) -> None:
    """A floor at or above the model's depth is refused."""
    with pytest.raises(ConfigError, match="min_layers"):
        prune(prune_request(bert_dir, task_specs["classification"], min_layers=4))


def test_candidates_fine_tune_on_their_sample_and_repurposing_on_all_of_train(
    bert_dir: Path, task_specs: dict[str, Any]
) -> None:
    """With candidate_train_examples, each candidate trains on that many examples; repurposing on all 240."""
    hp = dataclasses.replace(HP, candidate_train_examples=48)
    result = prune(prune_request(bert_dir, task_specs["classification"], retention=0.01, hyperparameters=hp))
    _check_consistent(result, 0.01)
    assert len(result.rounds) == 3
    for r in result.rounds:
        assert r.train_examples == len(r.candidates) * 48 + 240
    assert result.train_examples == 3 * 240 + sum(r.train_examples for r in result.rounds)
