"""aglp-shortlist and analyze end to end on a tiny model, the training-examples budget and the cost rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from secateur.kernel.cost import Plan, estimate
from tests.support.engine_runs import HP, Recorder, prune_request
from tests.support.synthetic import timeless, write_task_files
from worker.pruning.engine import prune
from worker.pruning.errors import ConfigError
from worker.pruning.shortlist import rank_agreement
from worker.pruning.types import Cancelled, Candidate
from worker.pruning.zeroshot import ZeroShot

TRAIN = 240


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The keyword classification task as files."""
    return write_task_files(tmp_path_factory.mktemp("task"), "classification")


def _zero_shot_rank(c: Candidate) -> tuple[float, float, int]:
    """The zero-shot ranking key: metric (higher first), loss, original index."""
    assert c.zero_shot_score is not None and c.zero_shot_loss is not None
    return (-c.zero_shot_score, c.zero_shot_loss, c.layer)


def _hp(**kw: Any) -> Any:
    """The test budget with candidates on a 48-example sample."""
    return dataclasses.replace(HP, candidate_train_examples=48, **kw)


def test_a_shortlist_of_every_layer_is_aglp(bert_dir: Path, spec: Any) -> None:
    """Verifying every candidate fine-tunes the same candidates with the same seeds as AGLP."""
    aglp = prune(prune_request(bert_dir, spec, retention=0.01, min_layers=2, hyperparameters=_hp()))
    full = prune(
        prune_request(
            bert_dir,
            spec,
            retention=0.01,
            min_layers=2,
            strategy="aglp-shortlist",
            hyperparameters=_hp(shortlist=4),
        )
    )
    assert full.removed_layers == aglp.removed_layers
    for a, s in zip(aglp.rounds, full.rounds, strict=True):
        assert [c.score for c in s.candidates] == [c.score for c in a.candidates]
        assert s.score == a.score and s.train_examples == a.train_examples
        assert all(c.zero_shot_score is not None and c.block_influence is not None for c in s.candidates)
        tied = len({c.score for c in s.candidates}) == 1
        assert (s.kendall_tau is None) if tied else (-1 <= s.kendall_tau <= 1)  # type: ignore[operator]


def test_aglp_rounds_record_the_zero_shot_ranking(bert_dir: Path, spec: Any) -> None:
    """AGLP fine-tunes every candidate as before and records each one's zero-shot score beside it."""
    result = prune(prune_request(bert_dir, spec, retention=0.01, min_layers=2, hyperparameters=_hp()))
    for r in result.rounds:
        assert len(r.candidates) == r.layers_before
        assert all(c.score is not None and c.zero_shot_score is not None for c in r.candidates)
        favourite = min(r.candidates, key=_zero_shot_rank)
        assert r.zero_shot_top == (r.removed_layer == favourite.layer)
        tied = len({c.score for c in r.candidates}) == 1
        assert (r.kendall_tau is None) if tied else (-1 <= r.kendall_tau <= 1)  # type: ignore[operator]


def test_rank_agreement_is_kendall_tau_over_the_verified() -> None:
    """Tau compares the zero-shot order with the fine-tuned scores; undefined below two or on ties."""
    order = [ZeroShot(2, 0.9, 0.1, 0.0), ZeroShot(0, 0.8, 0.2, 0.0), ZeroShot(1, 0.7, 0.3, 0.0)]
    assert rank_agreement(order, {2: 0.9, 0: 0.8, 1: 0.7}) == pytest.approx(1.0)
    assert rank_agreement(order, {2: 0.5, 0: 0.8}) == pytest.approx(-1.0)
    assert rank_agreement(order, {2: 0.5}) is None
    assert rank_agreement(order, {2: 0.5, 1: 0.5}) is None


def test_shortlist_verifies_only_the_zero_shot_best(bert_dir: Path, spec: Any) -> None:
    """Each round fine-tunes `shortlist` candidates, the zero-shot best, and removes the best of those."""
    hp = _hp(shortlist=2)
    request = prune_request(bert_dir, spec, retention=0.01, strategy="aglp-shortlist", hyperparameters=hp)
    result = prune(request)
    assert len(result.rounds) == 3 and result.stopped_by == "floor"
    for r in result.rounds:
        verified = [c for c in r.candidates if c.score is not None]
        assert len(verified) == 2 and len(r.candidates) == r.layers_before
        best_zero_shot = sorted(r.candidates, key=_zero_shot_rank)[:2]
        assert {c.layer for c in verified} == {c.layer for c in best_zero_shot}
        assert r.removed_layer == max(verified, key=lambda c: (c.score, -c.layer)).layer
        assert r.zero_shot_top == (r.removed_layer == best_zero_shot[0].layer)
        assert r.train_examples == 2 * 48 + TRAIN
    plan = Plan.of(hp, layers=4, train_size=TRAIN, min_layers=1)
    # No round missed the threshold, so none widened: the estimate's one widened round is unspent.
    assert result.train_examples + 2 * 48 == estimate("aglp-shortlist", plan).train_examples
    assert result.throughput["train"]["examples"] == result.train_examples
    assert 0 < result.throughput["score"]["real_token_fraction"] <= 1  # type: ignore[operator]


def test_shortlist_resumes_to_the_same_result(bert_dir: Path, spec: Any, tmp_path: Path) -> None:
    """Cancelled after round 1, a rerun on the checkpoint finishes like a clean run."""
    request = prune_request(
        bert_dir,
        spec,
        retention=0.01,
        strategy="aglp-shortlist",
        hyperparameters=_hp(shortlist=1, repurpose_epochs=0),
    )
    clean = prune(request)
    with pytest.raises(Cancelled):
        prune(request, Recorder(stop_after=1), checkpoint_dir=tmp_path)
    resumed = prune(request, checkpoint_dir=tmp_path)
    assert timeless(resumed.rounds) == timeless(clean.rounds)
    assert resumed.removed_layers == clean.removed_layers


def test_budget_stops_before_a_round_that_would_exceed_it(bert_dir: Path, spec: Any) -> None:
    """A round that would pass max_train_examples_total is not started, and the result says so."""
    per_round = 4 * 48 + TRAIN
    hp = _hp(max_train_examples_total=3 * TRAIN + per_round + 10)
    result = prune(prune_request(bert_dir, spec, retention=0.01, hyperparameters=hp))
    assert len(result.rounds) == 1 and result.stopped_by == "budget"
    assert result.train_examples == 3 * TRAIN + per_round
    with pytest.raises(ConfigError, match=r"max_train_examples_total .* below the baseline"):
        prune(prune_request(bert_dir, spec, hyperparameters=_hp(max_train_examples_total=3 * TRAIN - 1)))


def test_a_shortlist_longer_than_the_model_is_refused(bert_dir: Path, spec: Any) -> None:
    """shortlist above the layer count is an error naming it; 0 is refused by validation."""
    with pytest.raises(ConfigError, match="shortlist \\(5\\) exceeds the model's 4 layers"):
        prune(prune_request(bert_dir, spec, strategy="aglp-shortlist", hyperparameters=_hp(shortlist=5)))
    with pytest.raises(ConfigError, match="shortlist"):
        prune(prune_request(bert_dir, spec, strategy="aglp-shortlist", hyperparameters=_hp(shortlist=0)))


def test_analysis_trains_only_the_baseline_and_maps_every_depth(bert_dir: Path, spec: Any) -> None:
    """analyze removes the zero-shot favourite each round down to the floor, whatever the threshold."""
    result = prune(prune_request(bert_dir, spec, retention=0.99, strategy="analyze"))
    assert result.train_examples == 3 * TRAIN
    assert [r.layers_before for r in result.rounds] == [4, 3, 2]
    for r in result.rounds:
        assert r.train_examples == 0 and all(c.score is None for c in r.candidates)
        top = min(r.candidates, key=_zero_shot_rank)
        assert r.removed_layer == top.layer and r.score == top.zero_shot_score
    removed = [r.removed_layer for r in result.rounds]
    assert len(set(removed)) == 3
