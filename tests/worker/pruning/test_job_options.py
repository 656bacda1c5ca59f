"""Baseline as-is, protected and target layers, and every accepted depth kept, on tiny models."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoModelForSequenceClassification

from secateur.kernel.hyperparameters import KNOBS
from tests.support.synthetic import write_task_files
from worker.pruning.constraints import check_depth, validate_constraints
from worker.pruning.depths import DEPTH_FILE
from worker.pruning.engine import prune, validate
from worker.pruning.errors import ConfigError, ModelError
from worker.pruning.surgery import layer_count
from worker.pruning.types import Depth, Hyperparameters, NullObserver, PruneRequest

HP = Hyperparameters(
    epochs=3, candidate_epochs=1, repurpose_epochs=0, learning_rate=5e-3, batch_size=16, max_length=32, seed=0
)


class DepthRecorder(NullObserver):
    """Keeps the depths the engine hands over."""

    def __init__(self) -> None:
        """Start empty."""
        self.depths: list[Depth] = []

    def on_depth(self, depth: Depth) -> None:
        """Record."""
        self.depths.append(depth)


@pytest.fixture(scope="module")
def keyword(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The keyword classification task (labels no/yes)."""
    return write_task_files(tmp_path_factory.mktemp("keyword"))


def _request(model: Path, task: Any, **kw: Any) -> PruneRequest:
    """A CPU request with the test budget."""
    return PruneRequest(model=str(model), task=task, device="cpu", hyperparameters=HP, latency_runs=1, **kw)


@pytest.fixture(scope="module")
def fine_tuned(bert_dir: Path, keyword: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    """A 3-layer keyword classifier the engine fine-tuned and saved: a model 'already fine-tuned'."""
    out = tmp_path_factory.mktemp("fine-tuned")
    result = prune(_request(bert_dir, keyword, retention=0.01, min_layers=3), out_dir=out)
    return out, result


def test_protected_and_target_layers_bound_aglp_and_each_depth_is_kept(
    bert_dir: Path, keyword: Any, tmp_path: Path
) -> None:
    """Layer 0 is never a candidate, pruning stops at 2 layers, and both accepted depths are saved."""
    recorder = DepthRecorder()
    request = _request(bert_dir, keyword, retention=0.01, protected_layers=(0,), target_layers=2)
    result = prune(request, recorder, depths_dir=tmp_path / "depths")
    assert len(result.kept_layers) == 2 and 0 in result.kept_layers
    assert all(c.layer != 0 for r in result.rounds for c in r.candidates)
    assert [d.layers for d in recorder.depths] == [3, 2]
    last = recorder.depths[-1]
    assert last.kept_layers == result.kept_layers and last.score == result.score
    assert last.latency_ms is not None and last.latency_ms > 0
    model = AutoModelForSequenceClassification.from_pretrained(last.directory)
    assert layer_count(model.config) == 2
    assert json.loads((last.directory / DEPTH_FILE).read_text())["kept_layers"] == list(result.kept_layers)


def test_top_layer_dropping_skips_protected_layers(bert_dir: Path, keyword: Any) -> None:
    """With layer 3 protected, top drops 2 and then 1: the highest layers that may go."""
    request = _request(
        bert_dir, keyword, retention=0.01, strategy="top", protected_layers=(3,), target_layers=2
    )
    result = prune(request)
    assert result.removed_layers == (2, 1) and result.kept_layers == (0, 3)


def test_as_is_scores_the_uploaded_head_without_training_and_aglp_starts_from_it(
    fine_tuned: tuple[Path, Any], keyword: Any
) -> None:
    """The fine-tuned model's own score is the baseline; no baseline training examples are spent."""
    model_dir, earlier = fine_tuned
    result = prune(_request(model_dir, keyword, retention=0.01, baseline="as-is", min_layers=2))
    assert result.baseline == "as-is"
    assert result.baseline_score == pytest.approx(earlier.score)
    assert result.train_examples == sum(r.train_examples for r in result.rounds)
    assert result.layers_total == 3


def test_as_is_refuses_labels_that_differ_and_names_both(
    fine_tuned: tuple[Path, Any], tmp_path: Path
) -> None:
    """A head trained on no/yes cannot score a task labelled neg/pos."""
    spec = write_task_files(tmp_path, n_train=40, n_eval=20)
    for path in (spec.train_file, spec.validation_file):
        path.write_text(path.read_text().replace(",yes\n", ",pos\n").replace(",no\n", ",neg\n"))
    with pytest.raises(ModelError, match=r"\['no', 'yes'\].*\['neg', 'pos'\]"):
        prune(_request(fine_tuned[0], spec, retention=0.9, baseline="as-is"))


def test_as_is_refuses_a_model_without_a_head_for_the_task(bert_dir: Path, keyword: Any) -> None:
    """A bare pretrained encoder has no classifier to keep."""
    with pytest.raises(ModelError, match="no head for the task"):
        prune(_request(bert_dir, keyword, retention=0.9, baseline="as-is"))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"baseline": "as-is", "strategy": "glp"}, "cannot be used with strategy glp"),
        ({"baseline": "as-is", "strategy": "top"}, "cannot be used with strategy top"),
        ({"baseline": "reuse"}, "baseline must be one of"),
        ({"protected_layers": (1, 1)}, "twice"),
        ({"protected_layers": (-1,)}, "protected_layers"),
        ({"target_layers": 0}, "target_layers"),
        ({"protected_layers": (0, 1), "target_layers": 1}, "below the 2 protected layers"),
        ({"latency_runs": -1}, "latency_runs"),
    ],
)
def test_bad_options_are_refused_before_any_work(change: dict[str, Any], words: str) -> None:
    """Checks that need no model."""
    request = dataclasses.replace(PruneRequest(model="m", task=None), **change)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=words):
        validate_constraints(request)


@pytest.mark.parametrize("name", list(KNOBS))
def test_hyperparameters_out_of_the_kernels_bounds_are_refused(name: str) -> None:
    """Just past each bound the API enforces, the engine refuses too, naming the field and its range."""
    knob = KNOBS[name]
    past = [knob.minimum if knob.exclusive_minimum else knob.minimum - 1]
    past += [] if knob.maximum is None else [knob.maximum + 1]
    for value in past:
        hp = dataclasses.replace(Hyperparameters(), **{name: value})
        request = PruneRequest(model="m", task=None, hyperparameters=hp)  # type: ignore[arg-type]
        words = re.escape(f"hyperparameter {name} must be {knob.requirement()}, got {value!r}")
        with pytest.raises(ConfigError, match=words):
            validate(request)
    edges = {name: knob.maximum if knob.maximum is not None else knob.minimum + 1}
    validate(PruneRequest(model="m", task=None, hyperparameters=Hyperparameters(**edges)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"protected_layers": (1, 4, 7)}, r"protected_layers \[4, 7\] are out of range: the model has 4"),
        ({"protected_layers": (0, 1, 2, 3)}, "nothing is left to prune"),
        ({"target_layers": 4}, r"target_layers \(4\) must be below the model's 4 layers"),
    ],
)
def test_constraints_are_checked_against_the_models_depth(change: dict[str, Any], words: str) -> None:
    """Layers out of range and a target at or above the depth fail when the job starts."""
    request = dataclasses.replace(PruneRequest(model="m", task=None), **change)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=words):
        check_depth(request, 4)


def test_the_depth_check_runs_when_the_model_is_loaded(bert_dir: Path, keyword: Any) -> None:
    """prune refuses a protected layer the 4-layer model does not have."""
    with pytest.raises(ConfigError, match="out of range"):
        prune(_request(bert_dir, keyword, retention=0.9, protected_layers=(5,)))
