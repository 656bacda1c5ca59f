"""Runs that differ only in how they prune share one fine-tuned full model through the baseline cache."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from tests.support.synthetic import timeless, write_task_files
from worker.pruning import baseline, baseline_cache
from worker.pruning.engine import prune
from worker.pruning.types import Hyperparameters, PruneRequest

HP = Hyperparameters(
    epochs=3, candidate_epochs=1, repurpose_epochs=1, learning_rate=5e-3, batch_size=16, max_length=32, seed=0
)


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The keyword classification task as local files."""
    return write_task_files(tmp_path_factory.mktemp("task"), "classification")


@pytest.fixture
def fine_tunes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the baseline fine-tunes (the rounds fine-tune through `strategies`, not `baseline`)."""
    calls: list[int] = []
    original = baseline.fine_tune

    def counting(*args: Any, **kwargs: Any) -> int:
        calls.append(args[3].epochs)
        return original(*args, **kwargs)

    monkeypatch.setattr(baseline, "fine_tune", counting)
    return calls


def test_strategies_share_one_baseline_and_get_the_same_results(
    bert_dir: Path, spec: Any, tmp_path: Path, fine_tunes: list[int]
) -> None:
    """GLP and top reuse AGLP's fine-tuned full model and end exactly as they do without the cache."""
    cache = tmp_path / "baselines"
    aglp = PruneRequest(
        model=str(bert_dir), task=spec, strategy="aglp", device="cpu", hyperparameters=HP, min_layers=2
    )
    first = prune(aglp, baseline_cache_dir=cache)
    assert len(fine_tunes) == 1 and baseline_cache.entry_dir(cache, aglp).is_dir()
    for strategy in ("glp", "top"):
        request = dataclasses.replace(aglp, strategy=strategy, retention=0.9)
        before = len(fine_tunes)
        cached = prune(request, baseline_cache_dir=cache)
        assert len(fine_tunes) == before, "the cached baseline was fine-tuned again"
        fresh = prune(request)
        assert len(fine_tunes) == before + 1
        assert (cached.baseline_score, cached.baseline_report_score) == (
            first.baseline_score,
            first.baseline_report_score,
        )
        assert (fresh.baseline_score, fresh.baseline_report_score) == (
            first.baseline_score,
            first.baseline_report_score,
        )
        assert timeless(cached.rounds) == timeless(fresh.rounds)
        # The reused baseline still counts toward the run's cost.
        assert cached.train_examples == fresh.train_examples
        assert cached.seconds >= first.seconds - sum(r.seconds for r in first.rounds)


def test_the_cache_key_is_what_the_baseline_depends_on(bert_dir: Path, spec: Any, tmp_path: Path) -> None:
    """Strategy, retention and the candidates' budget share an entry; the baseline's budget does not."""
    base = PruneRequest(model=str(bert_dir), task=spec, hyperparameters=HP)
    same = [
        dataclasses.replace(base, strategy="glp", retention=0.5, min_layers=3, run_to_end=True),
        dataclasses.replace(base, hyperparameters=dataclasses.replace(HP, candidate_train_examples=8)),
        dataclasses.replace(base, hyperparameters=dataclasses.replace(HP, repurpose_epochs=0)),
        dataclasses.replace(base, device="cuda"),
        dataclasses.replace(base, model=os.path.relpath(bert_dir)),  # the same files from another cwd
    ]
    other = [
        dataclasses.replace(base, hyperparameters=dataclasses.replace(HP, epochs=2)),
        dataclasses.replace(base, hyperparameters=dataclasses.replace(HP, seed=1)),
        dataclasses.replace(base, hyperparameters=dataclasses.replace(HP, max_train_examples=10)),
        dataclasses.replace(base, hyperparameters=dataclasses.replace(HP, max_selection_examples=4)),
        dataclasses.replace(base, model=str(tmp_path)),
        dataclasses.replace(base, task=dataclasses.replace(spec, metric="f1")),
    ]
    entry = baseline_cache.entry_dir(tmp_path, base)
    assert all(baseline_cache.entry_dir(tmp_path, r) == entry for r in same)
    assert len({baseline_cache.entry_dir(tmp_path, r) for r in other} | {entry}) == len(other) + 1
