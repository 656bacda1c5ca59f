"""The cost rule: fine-tunes and training examples per strategy, and that the engine pays exactly that."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from secateur.kernel.cost import Cost, Plan, baseline_cost, estimate, round_cost
from secateur.kernel.vocabulary import STRATEGIES
from tests.support.engine_runs import HP, prune_request
from tests.support.synthetic import write_task_files
from worker.pruning.engine import prune

PLAN = Plan(
    layers=6, train_size=1000, epochs=2, candidate_epochs=1, repurpose_epochs=1, candidate_train_examples=100
)


def test_the_most_each_strategy_can_take() -> None:
    """Baseline plus every round from 6 layers down to 1, by the table in docs/engine.md."""
    rounds = [6, 5, 4, 3, 2]
    costs = {strategy: estimate(strategy, PLAN) for strategy in STRATEGIES}
    assert costs["aglp"] == Cost(1 + sum(k + 1 for k in rounds), 2000 + sum(k * 100 + 1000 for k in rounds))
    # Two candidates a round, plus one round widened to all six (the four it had not verified).
    assert costs["aglp-shortlist"] == Cost(1 + 5 * 3 + 4, 2000 + 5 * (200 + 1000) + 4 * 100)
    assert costs["glp"] == Cost(1 + sum(k + 1 for k in rounds), 2000 + sum(k * 100 + 2000 for k in rounds))
    assert costs["top"] == Cost(6, 6 * 2000)
    assert costs["analyze"] == Cost(1, 2000)


def test_edge_cases_of_the_rule() -> None:
    """A shortlist beyond the depth, no repurposing, GLP reusing its winner, an as-is baseline, the floor."""
    assert round_cost("aglp-shortlist", dataclasses.replace(PLAN, shortlist=9), 3) == Cost(3 + 1, 300 + 1000)
    assert round_cost("aglp", dataclasses.replace(PLAN, repurpose_epochs=0), 4) == Cost(4, 400)
    same = Plan(layers=6, train_size=1000, epochs=1, candidate_epochs=1)
    assert round_cost("glp", same, 4) == Cost(4, 4000)  # the winner already is the round's model
    assert baseline_cost(dataclasses.replace(PLAN, baseline_epochs=0)) == Cost()
    assert estimate("top", dataclasses.replace(PLAN, min_layers=5)) == Cost(2, 4000)
    with pytest.raises(ValueError, match="unknown strategy"):
        round_cost("random", PLAN, 3)


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The keyword classification task as files (240 training rows)."""
    return write_task_files(tmp_path_factory.mktemp("task"), "classification")


@pytest.mark.parametrize("strategy", ["glp", "top"])
def test_the_engine_pays_what_the_rule_says(bert_dir: Path, spec: Any, strategy: str) -> None:
    """Run to the floor, GLP and top-layer dropping process exactly the estimated training examples."""
    hp = dataclasses.replace(HP, candidate_train_examples=48)
    result = prune(
        prune_request(bert_dir, spec, retention=0.01, min_layers=2, strategy=strategy, hyperparameters=hp)
    )
    assert len(result.rounds) == 2
    plan = Plan.of(hp, layers=4, train_size=240, min_layers=2)
    assert result.train_examples == estimate(strategy, plan).train_examples
