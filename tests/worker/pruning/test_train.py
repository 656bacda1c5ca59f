"""The fine-tuning loop: optimizer groups, seeding, cancellation, heartbeats and evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.support.synthetic import keyword_task
from worker.pruning.surgery import load_model
from worker.pruning.train import TrainRun, build_optimizer, derive_seed, evaluate, fine_tune
from worker.pruning.types import Cancelled, Hyperparameters, NullObserver

HP = Hyperparameters(learning_rate=5e-3, batch_size=16)
CPU = torch.device("cpu")


def test_no_weight_decay_on_biases_and_layernorm(bert_dir: Path) -> None:
    """Biases and LayerNorm weights sit in the zero-decay group, everything else decays."""
    model = load_model(str(bert_dir), "classification", 2)
    decay, no_decay = build_optimizer(model, HP).param_groups
    names = {id(p): n for n, p in model.named_parameters()}
    assert decay["weight_decay"] == HP.weight_decay and no_decay["weight_decay"] == 0.0
    assert all(not names[id(p)].endswith("bias") and "LayerNorm" not in names[id(p)] for p in decay["params"])
    assert all(names[id(p)].endswith("bias") or "LayerNorm" in names[id(p)] for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(names)


def test_derived_seeds_are_stable_and_distinct() -> None:
    """Seeds depend on every part of the key and on nothing else."""
    assert derive_seed(0, 1, 2, 3) == derive_seed(0, 1, 2, 3)
    assert len({derive_seed(0, 1, r, layer) for r in range(4) for layer in range(4)}) == 16


def test_fine_tune_learns_and_is_reproducible(bert_dir: Path) -> None:
    """Fine-tuning beats chance, counts examples, and the same seed gives the same weights."""
    task = keyword_task()
    first = load_model(str(bert_dir), "classification", 2)
    second = load_model(str(bert_dir), "classification", 2)
    assert fine_tune(first, task, HP, TrainRun(3, 7, CPU)) == 3 * len(task.train)
    fine_tune(second, task, HP, TrainRun(3, 7, CPU))
    for a, b in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(a, b)
    assert evaluate(first, task.selection, task, HP, device=CPU) > task.chance_score + 0.2


def test_observer_can_cancel_and_gets_heartbeats(bert_dir: Path) -> None:
    """should_stop() is polled during training and stops it with Cancelled."""

    class Stopper(NullObserver):
        """Stops at the second poll and counts heartbeats."""

        beats = 0

        def heartbeat(self) -> None:
            """Count."""
            self.beats += 1

        def should_stop(self) -> bool:
            """Stop on the second poll."""
            return self.beats >= 2

    observer = Stopper()
    with pytest.raises(Cancelled):
        fine_tune(
            load_model(str(bert_dir), "classification", 2),
            keyword_task(),
            HP,
            TrainRun(3, 0, CPU),
            observer=observer,
        )
    assert observer.beats == 2


def test_token_evaluation_pads_batches(bert_dir: Path) -> None:
    """Token-level logits from batches of different lengths are scored together."""
    task = keyword_task("token-classification")
    model = load_model(str(bert_dir), "token-classification", 2)
    small = Hyperparameters(eval_batch_size=7)
    score = evaluate(model, task.selection, task, small, device=CPU)
    assert 0.0 <= score <= 1.0
