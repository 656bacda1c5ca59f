"""GET /v1/jobs, /v1/jobs/{id}, rounds and events; key isolation."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.client import ApiError, SecateurClient
from secateur.kernel.models import CandidateScore, Event, Round, utcnow

MakeJob = Callable[..., Any]


def test_get_a_job_and_another_keys_job_is_404(
    client: TestClient, caller: Any, other_caller: Any, make_job: MakeJob
) -> None:
    """The owner reads the job; another key gets 404 on every job route."""
    job = make_job(caller.id)
    assert client.get(f"/v1/jobs/{job.id}", headers=caller.headers).json()["id"] == job.id
    for path in ("", "/rounds", "/events", "/artifact"):
        response = client.get(f"/v1/jobs/{job.id}{path}", headers=other_caller.headers)
        assert response.status_code == 404, path
        assert "task" not in response.json()
    assert client.post(f"/v1/jobs/{job.id}/cancel", headers=other_caller.headers).status_code == 404


def test_list_pages_newest_first(
    api: SecateurClient, caller: Any, other_caller: Any, make_job: MakeJob
) -> None:
    """Paging with `after` walks the caller's jobs newest first, each once."""
    ids = [make_job(caller.id).id for _ in range(5)]
    make_job(other_caller.id)
    assert [job.id for job in api.jobs.iter(page_size=2)] == ids[::-1]
    for bad in ({"limit": 101}, {"after": "job_unknown"}):
        with pytest.raises(ApiError) as problem:
            api.jobs.list(**bad)  # type: ignore[arg-type]
        assert problem.value.status == 422 and problem.value.errors[0]["field"] == next(iter(bad))


def test_a_succeeded_job_shows_progress_and_result(
    client: TestClient, caller: Any, make_job: MakeJob
) -> None:
    """A succeeded job shows progress and its result, with the artifact columns authoritative."""
    result = {
        "layers_removed": 2,
        "removed_layers": [3, 5],
        "kept_layers": [0, 1, 2, 4],
        "score": 0.91,
        "report_score": 0.9,
        "retained_fraction": 0.97,
        "parameters_before": 1000,
        "parameters_after": 800,
        "metric": "accuracy",
        "artifact": {"bytes": 1, "sha256": "stale"},
    }
    job = make_job(
        caller.id,
        status="succeeded",
        started_at=utcnow(),
        finished_at=utcnow(),
        round=2,
        layers_total=6,
        layers_remaining=4,
        baseline_score=0.94,
        current_score=0.91,
        retained_fraction=0.97,
        result=result,
        artifact_key="artifacts/x.tar.gz",
        artifact_bytes=1234,
        artifact_sha256="ab" * 32,
    )
    body = client.get(f"/v1/jobs/{job.id}", headers=caller.headers).json()
    assert body["progress"]["layers_remaining"] == 4 and body["progress"]["baseline_score"] == 0.94
    assert body["result"]["removed_layers"] == [3, 5] and body["result"]["metric"] == "accuracy"
    assert body["result"]["artifact"] == {"bytes": 1234, "sha256": "ab" * 32}
    assert body["finished_at"].endswith(("Z", "+00:00"))


def test_a_failed_job_shows_its_error(api: SecateurClient, caller: Any, make_job: MakeJob) -> None:
    """A failed job shows its error code and message and no result."""
    job = make_job(
        caller.id, status="failed", error_code="invalid_dataset", error_message="no column 'label'"
    )
    body = api.jobs.get(job.id)
    assert body.error is not None and body.error.model_dump() == {
        "code": "invalid_dataset",
        "message": "no column 'label'",
    }
    assert body.result is None


def test_rounds_join_candidate_scores(
    api: SecateurClient, caller: Any, make_job: MakeJob, db_session: Session
) -> None:
    """Rounds list their candidates sorted by layer; unfinished rounds are left out."""
    job = make_job(caller.id, status="running")
    for number, removed in ((1, 5), (2, 0)):
        db_session.add(
            Round(
                job_id=job.id,
                round=number,
                layers_before=7 - number,
                removed_layer=removed,
                score=0.9,
                report_score=0.89,
                retained_fraction=0.98,
                accepted=number == 1,
                seconds=1.5,
            )
        )
    for layer in (5, 0, 3):
        db_session.add(
            CandidateScore(job_id=job.id, round=1, layer=layer, score={5: 0.85, 0: 0.8, 3: 0.83}[layer])
        )
    db_session.add(CandidateScore(job_id=job.id, round=2, layer=0, score=0.7))
    db_session.add(CandidateScore(job_id=job.id, round=3, layer=1, score=0.6))  # round 3 still running
    db_session.commit()
    data = [r.model_dump() for r in api.jobs.rounds(job.id)]
    assert [r["round"] for r in data] == [1, 2]
    zero_shot = {"zero_shot_score": None, "zero_shot_loss": None, "block_influence": None}  # AGLP has none
    assert data[0]["candidates"] == [
        {"layer": 0, "score": 0.8, **zero_shot},
        {"layer": 3, "score": 0.83, **zero_shot},
        {"layer": 5, "score": 0.85, **zero_shot},
    ]
    assert data[0]["removed_layer"] == 5 and data[0]["accepted"] is True and data[1]["accepted"] is False
    assert data[1]["candidates"] == [{"layer": 0, "score": 0.7, **zero_shot}]


def test_events_page_by_id(api: SecateurClient, caller: Any, make_job: MakeJob, db_session: Session) -> None:
    """Events come oldest first and page by integer id."""
    job = make_job(caller.id)
    for i in range(5):
        db_session.add(Event(job_id=job.id, type="candidate.scored", message=f"c{i}", data={"layer": i}))
    db_session.commit()
    first = api.jobs.events(job.id, limit=3)
    assert [e.message for e in first.data] == ["c0", "c1", "c2"] and first.has_more
    rest = api.jobs.events(job.id, after=first.data[-1].id)
    assert [e.data["layer"] for e in rest.data] == [3, 4] and not rest.has_more
    with pytest.raises(ApiError) as negative:
        api.jobs.events(job.id, after=-1)
    assert negative.value.status == 422 and negative.value.errors[0]["field"] == "after"
