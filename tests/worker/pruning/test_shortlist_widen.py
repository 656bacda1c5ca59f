"""aglp-shortlist widens a round whose shortlist misses the threshold, within the training budget."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.support.engine_runs import HP, prune_request
from tests.support.synthetic import write_task_files
from worker.pruning.candidates import SequentialRunner, Trial
from worker.pruning.engine import prune
from worker.pruning.resume import Slot
from worker.pruning.strategies import Context

TRAIN = 240
SAMPLE = 48  # each candidate's training examples


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The keyword classification task as files."""
    return write_task_files(tmp_path_factory.mktemp("task"), "classification")


class Spoiler(SequentialRunner):
    """Fine-tunes for real, but reports a score of 0 for the candidates of the calls it is told to spoil.

    `spoil` maps a round to how many of its `score` calls (the shortlist, then each widening) miss.
    """

    def __init__(self, spoil: dict[int, int]) -> None:
        super().__init__()
        self.spoil = spoil
        self.calls: list[tuple[int, list[int]]] = []

    def score(self, ctx: Context, rnd: int, start: Slot, layers: Sequence[int]) -> list[Trial]:
        trials = super().score(ctx, rnd, start, layers)
        calls_so_far = sum(1 for r, _ in self.calls if r == rnd)
        self.calls.append((rnd, sorted(layers)))
        if calls_so_far < self.spoil.get(rnd, 0):
            return [dataclasses.replace(t, score=0.0) for t in trials]
        return trials


def _request(bert_dir: Path, spec: Any, **hp: Any) -> Any:
    """aglp-shortlist of 2, winners kept as they are (so a round's score is its winner's)."""
    budget = dataclasses.replace(HP, candidate_train_examples=SAMPLE, repurpose_epochs=0, shortlist=2, **hp)
    return prune_request(bert_dir, spec, retention=0.01, strategy="aglp-shortlist", hyperparameters=budget)


def _verified(result: Any, rnd: int) -> set[int]:
    """The original layers fine-tuned in round `rnd`."""
    return {c.layer for c in result.rounds[rnd - 1].candidates if c.score is not None}


def test_a_missed_shortlist_widens_until_a_candidate_keeps_the_threshold(bert_dir: Path, spec: Any) -> None:
    """Round 1's shortlist misses: the next two in zero-shot order are verified, and one of them wins."""
    runner = Spoiler({1: 1})
    result = prune(_request(bert_dir, spec), candidate_runner=runner)
    first = result.rounds[0]
    shortlist, widened = runner.calls[0][1], runner.calls[1][1]
    assert [r for r, _ in runner.calls[:2]] == [1, 1] and not set(shortlist) & set(widened)
    assert _verified(result, 1) == set(shortlist) | set(widened) and first.accepted
    assert first.removed_layer in widened
    assert first.train_examples == 4 * SAMPLE
    assert [len(_verified(result, r.round)) for r in result.rounds[1:]] == [2, 2]  # no other round widened
    assert result.stopped_by == "floor" and len(result.removed_layers) == 3


def test_a_round_is_rejected_only_once_every_candidate_missed(bert_dir: Path, spec: Any) -> None:
    """Round 2 misses at every width: all three candidates are verified before the job stops."""
    runner = Spoiler({2: 99})
    result = prune(_request(bert_dir, spec), candidate_runner=runner)
    second = result.rounds[1]
    assert not second.accepted and second.layers_before == 3
    assert len(_verified(result, 2)) == 3 and second.train_examples == 3 * SAMPLE
    assert result.stopped_by == "threshold" and len(result.removed_layers) == 1


def test_the_budget_stops_a_widening_and_the_result_says_so(bert_dir: Path, spec: Any) -> None:
    """A widening that would pass max_train_examples_total is not run: the job ends on the budget."""
    budget = 3 * TRAIN + 2 * SAMPLE + SAMPLE  # the baseline, round 1's shortlist, and less than 2 more
    runner = Spoiler({1: 99})
    result = prune(_request(bert_dir, spec, max_train_examples_total=budget), candidate_runner=runner)
    assert [r for r, _ in runner.calls] == [1]
    assert len(result.rounds) == 1 and not result.rounds[0].accepted
    assert result.stopped_by == "budget" and not result.removed_layers
    assert result.train_examples == 3 * TRAIN + 2 * SAMPLE <= budget
