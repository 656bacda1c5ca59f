"""A cancel is noticed within seconds: between loading stages, every training step, every evaluation batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.support.synthetic import keyword_task, write_task_files
from worker.pruning.engine import prune
from worker.pruning.surgery import load_model
from worker.pruning.train import TrainRun, evaluate, fine_tune
from worker.pruning.types import Cancelled, Hyperparameters, NullObserver, PruneRequest

CPU = torch.device("cpu")
HP = Hyperparameters(epochs=1, batch_size=8, eval_batch_size=8, max_length=32)


class StopAfter(NullObserver):
    """Asks to stop at its n-th poll; counts the polls."""

    def __init__(self, polls: int) -> None:
        self.polls, self.limit = 0, polls

    def should_stop(self) -> bool:
        """Stop from the n-th poll on."""
        self.polls += 1
        return self.polls >= self.limit


def test_a_cancel_during_loading_stops_before_any_training(bert_dir: Path, tmp_path: Path) -> None:
    """The first check comes right after the tokenizer, before the data or the model are loaded."""
    request = PruneRequest(
        model=str(bert_dir), task=write_task_files(tmp_path), device="cpu", hyperparameters=HP
    )
    with pytest.raises(Cancelled, match="after loading the tokenizer"):
        prune(request, StopAfter(1))


def test_a_cancel_is_seen_at_the_first_training_step(bert_dir: Path) -> None:
    """Observers throttle their own reads, so the loop asks at every step."""
    observer = StopAfter(1)
    with pytest.raises(Cancelled, match="during fine-tuning"):
        fine_tune(
            load_model(str(bert_dir), "classification", 2),
            keyword_task(),
            HP,
            TrainRun(3, 0, CPU),
            observer=observer,
        )
    assert observer.polls == 1


def test_a_cancel_is_seen_during_evaluation(bert_dir: Path) -> None:
    """Scoring a large dev set asks after every batch."""
    task = keyword_task(n_eval=60)
    observer = StopAfter(2)
    with pytest.raises(Cancelled, match="during evaluation"):
        evaluate(
            load_model(str(bert_dir), "classification", 2),
            task.selection,
            task,
            HP,
            device=CPU,
            observer=observer,
        )
    assert observer.polls == 2
