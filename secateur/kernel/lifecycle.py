"""Every change of a job's state, in the order a job lives them; no other module updates a job row.

    create           API              new row -> queued                            job.created
    mark_enqueued    API, reconciler  queued: a broker holds its message
    cancel_if_queued API              queued -> cancelled                          job.cancelled
    claim            worker           queued, or running gone stale -> running     job.started
    adopt            worker           the local runner's claim, to the job's process
    heartbeat        worker           held by this attempt: heartbeat_at
    record_progress  worker           held by this attempt: progress columns
    request_cancel   API              running -> cancelling                        job.cancel_requested
    succeed          worker           held by this attempt -> succeeded            job.succeeded
    fail             worker           held by this attempt -> failed               job.failed
    cancel_attempt   worker           held by this attempt -> cancelled            job.cancelled
    cancel_stopped   reconciler       dead attempt, cancel requested -> cancelled  job.cancelled
    requeue          reconciler       dead attempt, running -> queued              job.requeued
    fail_lost        reconciler       dead attempt, running -> failed              job.failed
    force_cancel     reconciler       cancelling past its grace -> cancelled       job.cancelled

"Held by this attempt" means running or cancelling with that attempt number. Each is one
compare-and-set UPDATE naming the states (and, once claimed, the attempt) it may start from, so of
two racing writers one wins and the other learns it from the return value. The event is written in
the same transaction; callers own the transaction, nothing here commits.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, and_, func, or_, select, update
from sqlalchemy.orm import Session

from secateur.kernel.models import Event, Job, JobStatus, utcnow
from secateur.kernel.webhooks import fanout as webhook_fanout

# What a running attempt reports as it goes; status, attempt and timestamps change only through the
# transitions below.
PROGRESS_FIELDS = frozenset(
    (
        "round",
        "layers_total",
        "layers_remaining",
        "baseline_score",
        "current_score",
        "retained_fraction",
        "warnings",
    )
)


def add_event(session: Session, job_id: str, type_: str, message: str = "", /, **data: Any) -> Event:
    """Append one line to the job's event log, with its webhook deliveries in the same transaction."""
    row = Event(job_id=job_id, type=type_, message=message, data=data)
    session.add(row)
    webhook_fanout.queue_for_event(session, row)
    return row


def _move(session: Session, job_id: str, guard: ColumnElement[bool], **values: Any) -> bool:
    """Set `values` on the job only where `guard` holds; True when this call changed it."""
    statement = update(Job).where(Job.id == job_id, guard).values(**values)
    # An UPDATE always yields a CursorResult; Session.execute is typed for any statement.
    return cast("CursorResult[Any]", session.execute(statement)).rowcount == 1


def _held_by(attempt: int) -> ColumnElement[bool]:
    """Matches the job only while `attempt` holds it (running or cancelling)."""
    return and_(Job.attempts == attempt, Job.status.in_(JobStatus.ACTIVE))


# Created and queued.


def create(session: Session, job: Job) -> None:
    """Insert a new job as queued with its `job.created` event; a reused Idempotency-Key raises here."""
    job.status = JobStatus.QUEUED
    session.add(job)
    session.flush()  # the unique (owner, Idempotency-Key) constraint fires here
    add_event(session, job.id, "job.created", "job created", model=job.model)


def mark_enqueued(session: Session, job_id: str, *, now: datetime | None = None) -> bool:
    """Record that a broker accepted the queued job's message, so the reconciler does not send it again."""
    return _move(session, job_id, Job.status == JobStatus.QUEUED, enqueued_at=now or utcnow())


def cancel_if_queued(session: Session, job_id: str, *, now: datetime | None = None) -> bool:
    """queued -> cancelled, only if no worker claimed it meanwhile; True when this call did it."""
    now = now or utcnow()
    queued = Job.status == JobStatus.QUEUED
    if not _move(
        session, job_id, queued, status=JobStatus.CANCELLED, finished_at=now, cancel_requested_at=now
    ):
        return False
    add_event(session, job_id, "job.cancelled", "cancelled before it started")
    return True


# Claimed and running.


def claim(
    session: Session, job_id: str, *, worker: str, stale_after_s: float, now: datetime | None = None
) -> int | None:
    """Take the job for a new attempt; returns the attempt number, or None if it is not ours to run.

    A queued job can be taken, and so can a running one whose heartbeat went stale (its worker died and
    the broker redelivered the message). Anything else, including a fresh heartbeat, a cancel request
    or a terminal state, means another delivery of the same job, so it must not run.
    """
    now = now or utcnow()
    stale = or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < now - timedelta(seconds=stale_after_s))
    claimable = or_(Job.status == JobStatus.QUEUED, and_(Job.status == JobStatus.RUNNING, stale))
    if not _move(
        session,
        job_id,
        and_(Job.cancel_requested_at.is_(None), claimable),
        status=JobStatus.RUNNING,
        attempts=Job.attempts + 1,
        worker=worker,
        started_at=func.coalesce(Job.started_at, now),
        heartbeat_at=now,
    ):
        return None
    attempt: int = session.execute(select(Job.attempts).where(Job.id == job_id)).scalar_one()
    resumed = " (resuming)" if attempt > 1 else ""
    add_event(session, job_id, "job.started", f"attempt {attempt} on {worker}{resumed}", attempt=attempt)
    return attempt


def adopt(session: Session, job_id: str, *, attempt: int, worker: str, now: datetime | None = None) -> bool:
    """Hand a claim the local runner made to the job's own process; False if it is no longer valid.

    A cancel may have come in meanwhile: the job then starts and stops at its first check.
    """
    return _move(session, job_id, _held_by(attempt), worker=worker, heartbeat_at=now or utcnow())


def heartbeat(session: Session, job_id: str, *, attempt: int, now: datetime | None = None) -> bool:
    """Tell the reconciler `attempt` is alive; False once the job is no longer its own."""
    return _move(session, job_id, _held_by(attempt), heartbeat_at=now or utcnow())


def record_progress(
    session: Session, job_id: str, *, attempt: int, now: datetime | None = None, **fields: Any
) -> bool:
    """Write progress columns (and the heartbeat) while `attempt` holds the job; False once it does not."""
    unknown = sorted(set(fields) - PROGRESS_FIELDS)
    if unknown:
        raise ValueError(f"{unknown} are not progress fields; allowed: {sorted(PROGRESS_FIELDS)}")
    return _move(session, job_id, _held_by(attempt), heartbeat_at=now or utcnow(), **fields)


def request_cancel(session: Session, job_id: str, *, now: datetime | None = None) -> bool:
    """running -> cancelling; the worker polls `cancel_requested_at` and stops. True when this call did it."""
    now = now or utcnow()
    running = Job.status == JobStatus.RUNNING
    if not _move(session, job_id, running, status=JobStatus.CANCELLING, cancel_requested_at=now):
        return False
    add_event(session, job_id, "job.cancel_requested", "cancellation requested")
    return True


# Finished by the attempt that holds the job.


@dataclass(frozen=True)
class Success:
    """What a finished attempt records: its message, result and artifact, and the final progress."""

    message: str
    result: dict[str, Any]
    artifact_key: str
    artifact_bytes: int
    artifact_sha256: str
    layers_remaining: int
    current_score: float
    retained_fraction: float | None


def succeed(
    session: Session, job_id: str, *, attempt: int, success: Success, now: datetime | None = None
) -> bool:
    """-> succeeded with the result and its artifact, if `attempt` still holds the job."""
    if not _move(
        session,
        job_id,
        _held_by(attempt),
        status=JobStatus.SUCCEEDED,
        finished_at=now or utcnow(),
        result=success.result,
        artifact_key=success.artifact_key,
        artifact_bytes=success.artifact_bytes,
        artifact_sha256=success.artifact_sha256,
        layers_remaining=success.layers_remaining,
        current_score=success.current_score,
        retained_fraction=success.retained_fraction,
    ):
        return False
    add_event(session, job_id, "job.succeeded", success.message)
    return True


def fail(
    session: Session, job_id: str, *, attempt: int, code: str, message: str, now: datetime | None = None
) -> bool:
    """-> failed with an error code and a message saying what to fix, if `attempt` still holds the job."""
    if not _move(
        session,
        job_id,
        _held_by(attempt),
        status=JobStatus.FAILED,
        finished_at=now or utcnow(),
        error_code=code,
        error_message=message,
    ):
        return False
    add_event(session, job_id, "job.failed", message, code=code)
    return True


def cancel_attempt(session: Session, job_id: str, *, attempt: int, now: datetime | None = None) -> bool:
    """-> cancelled by the attempt that stopped on request, if it still holds the job."""
    if not _move(session, job_id, _held_by(attempt), status=JobStatus.CANCELLED, finished_at=now or utcnow()):
        return False
    add_event(session, job_id, "job.cancelled", "cancelled on request")
    return True


# Ended for an attempt that died or would not stop (the reconciler and the local runner).


def cancel_stopped(
    session: Session, job_id: str, *, attempt: int, reason: str, now: datetime | None = None
) -> bool:
    """-> cancelled: the dead attempt's job had a cancel request, so it ends rather than runs again."""
    asked = and_(_held_by(attempt), Job.cancel_requested_at.is_not(None))
    if not _move(session, job_id, asked, status=JobStatus.CANCELLED, finished_at=now or utcnow()):
        return False
    add_event(session, job_id, "job.cancelled", f"cancelled; its worker stopped ({reason})")
    return True


def _died(attempt: int) -> ColumnElement[bool]:
    """Matches the job while the dead `attempt` left it running (not cancelling)."""
    return and_(Job.attempts == attempt, Job.status == JobStatus.RUNNING)


def requeue(session: Session, job_id: str, *, attempt: int, reason: str) -> bool:
    """running -> queued for another attempt (to be sent to the broker again); True when this call did it."""
    if not _move(session, job_id, _died(attempt), status=JobStatus.QUEUED, worker=None, enqueued_at=None):
        return False
    message = f"requeued after attempt {attempt}: {reason}"
    add_event(session, job_id, "job.requeued", message, attempt=attempt, reason=reason)
    return True


def fail_lost(
    session: Session, job_id: str, *, attempt: int, reason: str, now: datetime | None = None
) -> bool:
    """running -> failed `worker_lost`, when the job's attempts are spent; True when this call did it."""
    message = f"the worker was lost {attempt} times ({reason}); giving up after {attempt} attempts"
    if not _move(
        session,
        job_id,
        _died(attempt),
        status=JobStatus.FAILED,
        finished_at=now or utcnow(),
        error_code="worker_lost",
        error_message=message,
    ):
        return False
    add_event(session, job_id, "job.failed", message, attempt=attempt, reason=reason)
    return True


def force_cancel(session: Session, job_id: str, *, grace_s: float, now: datetime | None = None) -> bool:
    """cancelling -> cancelled when the worker did not stop within `grace_s`; the caller kills its task."""
    cancelling = Job.status == JobStatus.CANCELLING
    if not _move(session, job_id, cancelling, status=JobStatus.CANCELLED, finished_at=now or utcnow()):
        return False
    message = f"cancelled: the worker did not stop within {grace_s:g} s, so it was killed"
    add_event(session, job_id, "job.cancelled", message)
    return True
