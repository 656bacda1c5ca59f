"""POST /v1/jobs/{id}/cancel."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.client import ApiError, SecateurClient
from secateur.kernel.models import Event, Job

MakeJob = Callable[..., Any]


def _events(db_session: Session, job_id: str) -> list[str]:
    """The job's event types, oldest first."""
    return list(db_session.scalars(select(Event.type).where(Event.job_id == job_id).order_by(Event.id)))


def test_a_queued_job_is_cancelled_at_once(
    client: TestClient, caller: Any, make_job: MakeJob, db_session: Session
) -> None:
    """A queued job goes straight to cancelled with a finish time and an event."""
    job = make_job(caller.id)
    response = client.post(f"/v1/jobs/{job.id}/cancel", headers=caller.headers)
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert response.json()["finished_at"] is not None
    assert _events(db_session, job.id) == ["job.cancelled"]


def test_a_running_job_is_asked_to_stop(
    client: TestClient, caller: Any, make_job: MakeJob, db_session: Session
) -> None:
    """A running job becomes cancelling (202) with cancel_requested_at set; repeating is harmless."""
    job = make_job(caller.id, status="running")
    response = client.post(f"/v1/jobs/{job.id}/cancel", headers=caller.headers)
    assert response.status_code == 202 and response.json()["status"] == "cancelling"
    db_session.expire_all()
    assert db_session.get_one(Job, job.id).cancel_requested_at is not None
    # Asking again is harmless.
    assert client.post(f"/v1/jobs/{job.id}/cancel", headers=caller.headers).status_code == 202
    assert _events(db_session, job.id) == ["job.cancel_requested"]


@pytest.mark.parametrize("status", ["succeeded", "failed", "cancelled"])
def test_a_finished_job_is_409(api: SecateurClient, caller: Any, make_job: MakeJob, status: str) -> None:
    """Cancelling a finished job is a 409."""
    job = make_job(caller.id, status=status)
    with pytest.raises(ApiError) as refused:
        api.jobs.cancel(job.id)
    assert refused.value.status == 409 and refused.value.type == "urn:secateur:problem:job-finished"
