"""Insert and read job rows without the API (on the `local_db` fixture's database)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.keys.service import create_key
from secateur.kernel.db import session_scope
from secateur.kernel.models import Event, Job


def job_row(owner_id: str, **values: Any) -> Job:
    """An unsaved job of `owner_id`, queued unless `values` override its columns."""
    defaults: dict[str, Any] = {
        "model": "org/model",
        "task": {"name": "sst2"},
        "strategy": "aglp",
        "retention": 0.9,
        "hyperparameters": {},
        "metadata_": {},
    }
    return Job(owner_id=owner_id, **{**defaults, **values})


def make_job(**values: Any) -> str:
    """Insert a job with an owner; `values` override its columns."""
    with session_scope() as session:
        owner, _ = create_key(session, "tester")
        job = job_row(owner.id, **values)
        session.add(job)
        session.flush()
        return job.id


def job(job_id: str) -> Job:
    """The job row as it is now."""
    with session_scope() as session:
        row = session.get(Job, job_id)
        assert row is not None
        return row


def event_types(job_id: str) -> list[str]:
    """The job's event types, oldest first."""
    with session_scope() as session:
        return list(session.scalars(select(Event.type).where(Event.job_id == job_id).order_by(Event.id)))
