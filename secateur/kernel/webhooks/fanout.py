"""Turn a job event into one pending delivery per subscribed endpoint, in the event's own transaction."""

from datetime import UTC
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from secateur.kernel import queue
from secateur.kernel.jobs.history import EventOut
from secateur.kernel.jobs.serializers import job_out
from secateur.kernel.models import Event, Job
from secateur.kernel.webhooks import repository
from secateur.kernel.webhooks.schemas import EVENT_TYPES

_PENDING = "secateur.webhook_deliveries"


def payload(job: Job, row: Event) -> dict[str, Any]:
    """The Standard Webhooks body: type, timestamp, and the event with the job as it is now."""
    return {
        "type": row.type,
        "timestamp": row.created_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "event": EventOut.model_validate(row).model_dump(mode="json"),
            "job": job_out(job).model_dump(mode="json"),
        },
    }


def queue_for_event(session: Session, row: Event) -> None:
    """Create the deliveries of a just-added event; they are sent to the workers once it commits."""
    if row.type not in EVENT_TYPES:
        return
    session.flush()  # gives the event its id and timestamp
    # populate_existing: the caller may have moved the job with an UPDATE this session has not seen.
    job = session.scalars(
        select(Job).where(Job.id == row.job_id).execution_options(populate_existing=True)
    ).one()
    endpoints = repository.subscribed(session, job.owner_id, row.type)
    if not endpoints:
        return
    body = payload(job, row)
    rows = [
        repository.add_delivery(session, e.id, job_id=job.id, event_id=row.id, type_=row.type, payload=body)
        for e in endpoints
    ]
    session.flush()  # assigns the ids
    _send_after_commit(session, [delivery.id for delivery in rows])


def _send_after_commit(session: Session, delivery_ids: list[str]) -> None:
    """Publish the deliveries only once the transaction that made them has committed (Celery only)."""
    if _PENDING not in session.info:
        session.info[_PENDING] = []
        # Per-session hooks, registered once; sessions are short-lived, so they go with it.
        event.listen(session, "after_commit", _publish)
        event.listen(session, "after_soft_rollback", _forget)
    session.info[_PENDING].extend(delivery_ids)


def _publish(session: Session) -> None:
    """Hand the committed deliveries to the broker; the local runner needs nothing."""
    pending: list[str] = session.info.get(_PENDING, [])
    while pending:
        queue.send_webhook(pending.pop(0))


def _forget(session: Session, _previous_transaction: Any) -> None:
    """Rolled back: those rows never existed."""
    session.info.get(_PENDING, []).clear()
