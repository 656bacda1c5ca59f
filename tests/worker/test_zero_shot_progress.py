"""The database observer stores shortlist rounds: every candidate's zero-shot figures, verified or not."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from secateur.kernel.db import session_scope
from secateur.kernel.models import CandidateScore, Round
from secateur.kernel.settings import Settings
from tests.support.job_rows import make_job
from worker.job_runner import claim
from worker.progress import DbObserver
from worker.pruning.types import Candidate, RoundRecord


def test_a_shortlist_round_stores_zero_shot_fields_once(local_db: Settings) -> None:
    """Verified candidates (recorded as they finish) gain their zero-shot fields; the others get a row."""
    job_id = make_job()
    attempt = claim(job_id, "a:1", stale_after_s=60)
    assert attempt == 1
    observer = DbObserver(job_id, attempt, heartbeat_s=0.0, poll_s=0.0)
    observer.on_baseline(0.9, 0.88, 3)
    observer.on_candidate(1, 2, 0.85, 1.0)
    candidates = (
        Candidate(0, None, 0.1, zero_shot_score=0.6, zero_shot_loss=0.9, block_influence=0.3),
        Candidate(1, None, 0.1, zero_shot_score=0.7, zero_shot_loss=0.8, block_influence=0.2),
        Candidate(2, 0.85, 1.1, zero_shot_score=0.8, zero_shot_loss=0.7, block_influence=0.1),
    )
    record = RoundRecord(1, 3, candidates, 2, 0.87, 0.86, 0.97, True, 2.0, 500, True, None)
    observer.on_round(record)
    observer.on_round(record)  # a resumed job replaying the round
    with session_scope() as session:
        rows = session.scalars(
            select(CandidateScore).where(CandidateScore.job_id == job_id).order_by(CandidateScore.layer)
        ).all()
        got = [(r.layer, r.score, r.zero_shot_score, r.zero_shot_loss, r.block_influence) for r in rows]
        assert got == [(0, None, 0.6, 0.9, 0.3), (1, None, 0.7, 0.8, 0.2), (2, 0.85, 0.8, 0.7, 0.1)]
        (stored,) = session.scalars(select(Round).where(Round.job_id == job_id)).all()
        assert stored.zero_shot_top is True and stored.kendall_tau is None and stored.train_examples == 500


def test_an_analysis_result_holds_the_sensitivity_table() -> None:
    """The job result of `analyze` lists, per round, every remaining layer's zero-shot figures."""
    from worker.pruning.types import PruneResult
    from worker.results import result_json

    candidates = (
        Candidate(0, None, 0.0, zero_shot_score=0.6, zero_shot_loss=0.9, block_influence=0.3),
        Candidate(1, None, 0.0, zero_shot_score=0.7, zero_shot_loss=0.8, block_influence=0.2),
    )
    rnd = RoundRecord(1, 2, candidates, 1, 0.7, 0.69, 0.8, False, 1.0, 0)
    result = PruneResult(
        "analyze", "accuracy", 0.9, 0.88, 0.5, 0.9, 0.88, 1.0, (0, 1), (), 2, 10, 10, (rnd,), 300, 5.0
    )
    values = result_json(result, 1, "ab")
    assert values["stopped_by"] == "floor" and values["train_examples"] == 300
    assert values["sensitivity"] == [
        {
            "round": 1,
            "layers_before": 2,
            "removed_layer": 1,
            "score": 0.7,
            "report_score": 0.69,
            "layers": [
                {"layer": 0, "score": 0.6, "loss": 0.9, "block_influence": 0.3},
                {"layer": 1, "score": 0.7, "loss": 0.8, "block_influence": 0.2},
            ],
        }
    ]
    aglp = result_json(dataclasses.replace(result, strategy="aglp"), 1, "ab")
    assert "sensitivity" not in aglp
