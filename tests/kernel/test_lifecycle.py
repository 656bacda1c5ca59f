"""Each job state change and its guard, on SQLite and PostgreSQL, through `secateur.kernel.lifecycle`."""

from datetime import timedelta
from typing import Any, get_args

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from secateur.kernel import lifecycle
from secateur.kernel.models import Event, Job, JobStatus, utcnow
from secateur.kernel.vocabulary import TERMINAL_STATUSES, JobStatusName
from tests.conftest import Caller
from tests.support.job_rows import job_row


def _job(session: Session, owner: Caller, **values: Any) -> str:
    """Insert a job of `owner` (queued unless `values` say otherwise) without the lifecycle."""
    row = job_row(owner.id, **values)
    session.add(row)
    session.flush()
    return row.id


def _row(session: Session, job_id: str) -> Job:
    """The job as the database has it now (the ORM has not seen the UPDATEs)."""
    query = select(Job).where(Job.id == job_id).execution_options(populate_existing=True)
    return session.scalars(query).one()


def _events(session: Session, job_id: str) -> list[tuple[str, str, dict[str, Any]]]:
    """The job's events as (type, message, data), oldest first."""
    rows = session.scalars(select(Event).where(Event.job_id == job_id).order_by(Event.id))
    return [(e.type, e.message, e.data) for e in rows]


def _running(session: Session, owner: Caller, attempt: int = 1, **values: Any) -> str:
    """A job held by `attempt`, with a fresh heartbeat."""
    return _job(session, owner, status=JobStatus.RUNNING, attempts=attempt, heartbeat_at=utcnow(), **values)


def test_statuses_are_stored_and_served_as_plain_strings(db_session: Session, caller: Caller) -> None:
    """The enum writes its value to the column, reads back as a str, and matches the API's vocabulary."""
    job_id = _running(db_session, caller)
    stored = db_session.execute(text("SELECT status FROM jobs WHERE id = :id"), {"id": job_id}).scalar_one()
    assert stored == "running" and type(stored) is str
    assert _row(db_session, job_id).status == JobStatus.RUNNING
    assert set(get_args(JobStatusName)) == {s.value for s in JobStatus}
    assert set(JobStatus.TERMINAL) == TERMINAL_STATUSES
    assert sorted(JobStatus.ACTIVE) == ["cancelling", "running"]
    assert sorted(JobStatus.TERMINAL) == ["cancelled", "failed", "succeeded"]
    assert f"{JobStatus.FAILED}" == "failed" and JobStatus("queued") is JobStatus.QUEUED


def test_create_queues_the_job_with_its_first_event(db_session: Session, caller: Caller) -> None:
    """A new row is queued and says so in its log."""
    job = Job(owner_id=caller.id, model="org/m", task={}, strategy="aglp", retention=0.9)
    job.hyperparameters, job.metadata_ = {}, {}
    lifecycle.create(db_session, job)
    assert _row(db_session, job.id).status == "queued"
    assert _events(db_session, job.id) == [("job.created", "job created", {"model": "org/m"})]


def test_mark_enqueued_only_marks_a_queued_job(db_session: Session, caller: Caller) -> None:
    """A job a worker already took keeps enqueued_at empty (a requeue clears it anyway)."""
    queued, running = _job(db_session, caller), _running(db_session, caller)
    assert lifecycle.mark_enqueued(db_session, queued)
    assert not lifecycle.mark_enqueued(db_session, running)
    assert _row(db_session, queued).enqueued_at is not None
    assert _row(db_session, running).enqueued_at is None


def test_cancel_if_queued_leaves_a_claimed_job_alone(db_session: Session, caller: Caller) -> None:
    """queued -> cancelled with both timestamps; a running job is untouched and gets no event."""
    queued, running = _job(db_session, caller), _running(db_session, caller)
    assert lifecycle.cancel_if_queued(db_session, queued)
    row = _row(db_session, queued)
    assert row.status == "cancelled" and row.finished_at is not None and row.cancel_requested_at is not None
    assert _events(db_session, queued) == [("job.cancelled", "cancelled before it started", {})]
    assert not lifecycle.cancel_if_queued(db_session, running)
    row = _row(db_session, running)
    assert row.status == "running" and row.cancel_requested_at is None and _events(db_session, running) == []


def test_a_job_is_claimed_once_until_its_heartbeat_goes_stale(db_session: Session, caller: Caller) -> None:
    """The first claim is attempt 1; a second waits for a stale heartbeat, then resumes as attempt 2."""
    job_id = _job(db_session, caller)
    assert lifecycle.claim(db_session, job_id, worker="a:1", stale_after_s=60) == 1
    first = _row(db_session, job_id)
    assert (first.status, first.worker, first.attempts) == ("running", "a:1", 1)
    started = first.started_at
    assert started is not None and first.heartbeat_at is not None
    assert lifecycle.claim(db_session, job_id, worker="b:2", stale_after_s=60) is None
    later = utcnow() + timedelta(seconds=120)
    assert lifecycle.claim(db_session, job_id, worker="b:2", stale_after_s=60, now=later) == 2
    second = _row(db_session, job_id)
    assert (second.worker, second.started_at, second.heartbeat_at) == ("b:2", started, later)
    messages = [message for _type, message, _data in _events(db_session, job_id)]
    assert messages == ["attempt 1 on a:1", "attempt 2 on b:2 (resuming)"]


@pytest.mark.parametrize(
    "values",
    [
        {"status": JobStatus.QUEUED, "cancel_requested_at": utcnow()},
        {"status": JobStatus.CANCELLING, "attempts": 1},
        {"status": JobStatus.SUCCEEDED, "attempts": 1},
        {"status": JobStatus.FAILED, "attempts": 1},
    ],
)
def test_cancelled_and_finished_jobs_are_never_claimed(
    db_session: Session, caller: Caller, values: dict[str, Any]
) -> None:
    """Neither a cancel request nor a terminal state can be claimed, however old the heartbeat."""
    job_id = _job(db_session, caller, **values)
    later = utcnow() + timedelta(days=1)
    assert lifecycle.claim(db_session, job_id, worker="a:1", stale_after_s=60, now=later) is None
    assert _row(db_session, job_id).attempts == values.get("attempts", 0)


def test_adopt_needs_the_claiming_attempt(db_session: Session, caller: Caller) -> None:
    """The job's process takes the runner's claim (even while cancelling), never an older attempt's."""
    job_id = _running(db_session, caller, attempt=2, worker="local:h:1")
    assert not lifecycle.adopt(db_session, job_id, attempt=1, worker="h:9")
    assert _row(db_session, job_id).worker == "local:h:1"
    assert lifecycle.adopt(db_session, job_id, attempt=2, worker="h:9")
    assert _row(db_session, job_id).worker == "h:9"


def test_adopt_a_cancelling_job_but_not_a_finished_one(db_session: Session, caller: Caller) -> None:
    """A cancel that came in meanwhile still lets the process start (and stop at its first check)."""
    cancelling = _job(db_session, caller, status=JobStatus.CANCELLING, attempts=1)
    finished = _job(db_session, caller, status=JobStatus.CANCELLED, attempts=1)
    assert lifecycle.adopt(db_session, cancelling, attempt=1, worker="h:9")
    assert not lifecycle.adopt(db_session, finished, attempt=1, worker="h:9")


def test_progress_and_heartbeat_are_written_only_by_the_holding_attempt(
    db_session: Session, caller: Caller
) -> None:
    """The current attempt's writes land; an overtaken attempt's match nothing."""
    job_id = _running(db_session, caller, attempt=2)
    beat = utcnow() - timedelta(seconds=5)
    assert lifecycle.heartbeat(db_session, job_id, attempt=2, now=beat)
    assert _row(db_session, job_id).heartbeat_at == beat
    assert lifecycle.record_progress(db_session, job_id, attempt=2, round=3, current_score=0.8)
    row = _row(db_session, job_id)
    assert (row.round, row.current_score) == (3, 0.8) and row.heartbeat_at is not None
    assert row.heartbeat_at > beat  # progress beats too
    assert not lifecycle.heartbeat(db_session, job_id, attempt=1)
    assert not lifecycle.record_progress(db_session, job_id, attempt=1, round=9)
    assert _row(db_session, job_id).round == 3


def test_progress_cannot_change_the_state(db_session: Session, caller: Caller) -> None:
    """Status, attempt and timestamps change only through the transitions; the error names the field."""
    job_id = _running(db_session, caller)
    with pytest.raises(ValueError, match="'status'"):
        lifecycle.record_progress(db_session, job_id, attempt=1, status=JobStatus.SUCCEEDED)
    assert _row(db_session, job_id).status == "running"


def test_request_cancel_asks_a_running_job_only(db_session: Session, caller: Caller) -> None:
    """running -> cancelling with the request time; a queued job is cancel_if_queued's."""
    running, queued = _running(db_session, caller), _job(db_session, caller)
    assert lifecycle.request_cancel(db_session, running)
    row = _row(db_session, running)
    assert row.status == "cancelling" and row.cancel_requested_at is not None
    assert _events(db_session, running) == [("job.cancel_requested", "cancellation requested", {})]
    assert not lifecycle.request_cancel(db_session, running)  # already asked
    assert not lifecycle.request_cancel(db_session, queued)
    assert _row(db_session, queued).status == "queued"


def _succeed(session: Session, job_id: str, attempt: int) -> bool:
    success = lifecycle.Success(
        message="2 of 4 layers removed",
        result={"score": 0.9},
        artifact_key=f"artifacts/{job_id}/model.tar.gz",
        artifact_bytes=10,
        artifact_sha256="ab" * 32,
        layers_remaining=2,
        current_score=0.9,
        retained_fraction=0.95,
    )
    return lifecycle.succeed(session, job_id, attempt=attempt, success=success)


def test_a_stale_attempt_cannot_finish(db_session: Session, caller: Caller) -> None:
    """Once the job was handed to attempt 2, attempt 1 can neither succeed nor fail nor cancel it."""
    job_id = _running(db_session, caller, attempt=2)
    assert not _succeed(db_session, job_id, attempt=1)
    assert not lifecycle.fail(db_session, job_id, attempt=1, code="x", message="boom")
    assert not lifecycle.cancel_attempt(db_session, job_id, attempt=1)
    row = _row(db_session, job_id)
    assert row.status == "running" and row.finished_at is None and row.result is None
    assert _events(db_session, job_id) == []


def test_succeed_records_the_result_once(db_session: Session, caller: Caller) -> None:
    """-> succeeded with the artifact; a second finish (any kind) finds the job ended."""
    job_id = _running(db_session, caller)
    assert _succeed(db_session, job_id, attempt=1)
    row = _row(db_session, job_id)
    assert row.status == "succeeded" and row.finished_at is not None and row.artifact_bytes == 10
    assert (row.layers_remaining, row.retained_fraction, row.result) == (2, 0.95, {"score": 0.9})
    assert not lifecycle.fail(db_session, job_id, attempt=1, code="x", message="late")
    assert _events(db_session, job_id) == [("job.succeeded", "2 of 4 layers removed", {})]


def test_fail_and_cancel_attempt_end_a_cancelling_job_too(db_session: Session, caller: Caller) -> None:
    """The holding attempt may end its job failed or cancelled while a cancel is pending."""
    failing = _job(db_session, caller, status=JobStatus.CANCELLING, attempts=1)
    stopping = _job(db_session, caller, status=JobStatus.CANCELLING, attempts=1)
    assert lifecycle.fail(db_session, failing, attempt=1, code="out_of_memory", message="lower batch_size")
    row = _row(db_session, failing)
    assert (row.status, row.error_code, row.error_message) == ("failed", "out_of_memory", "lower batch_size")
    assert _events(db_session, failing) == [("job.failed", "lower batch_size", {"code": "out_of_memory"})]
    assert lifecycle.cancel_attempt(db_session, stopping, attempt=1)
    assert _row(db_session, stopping).status == "cancelled"
    assert _events(db_session, stopping) == [("job.cancelled", "cancelled on request", {})]


def test_cancel_stopped_needs_a_cancel_request(db_session: Session, caller: Caller) -> None:
    """A dead attempt's job ends cancelled only if someone asked; otherwise it is left to requeue."""
    asked = _running(db_session, caller, cancel_requested_at=utcnow())
    not_asked = _running(db_session, caller)
    assert not lifecycle.cancel_stopped(db_session, asked, attempt=2, reason="gone")
    assert lifecycle.cancel_stopped(db_session, asked, attempt=1, reason="gone")
    assert _row(db_session, asked).status == "cancelled"
    assert _events(db_session, asked) == [("job.cancelled", "cancelled; its worker stopped (gone)", {})]
    assert not lifecycle.cancel_stopped(db_session, not_asked, attempt=1, reason="gone")
    assert _row(db_session, not_asked).status == "running"


def test_requeue_gives_a_dead_attempts_job_another_go(db_session: Session, caller: Caller) -> None:
    """running -> queued, worker and enqueued_at cleared; a newer attempt or a cancelling job is not."""
    job_id = _running(db_session, caller, attempt=2, worker="a:1", enqueued_at=utcnow())
    assert not lifecycle.requeue(db_session, job_id, attempt=1, reason="silent")
    assert lifecycle.requeue(db_session, job_id, attempt=2, reason="silent")
    row = _row(db_session, job_id)
    assert (row.status, row.worker, row.enqueued_at, row.attempts) == ("queued", None, None, 2)
    expected = ("job.requeued", "requeued after attempt 2: silent", {"attempt": 2, "reason": "silent"})
    assert _events(db_session, job_id) == [expected]
    cancelling = _job(db_session, caller, status=JobStatus.CANCELLING, attempts=1)
    assert not lifecycle.requeue(db_session, cancelling, attempt=1, reason="silent")


def test_fail_lost_gives_up_on_a_running_job(db_session: Session, caller: Caller) -> None:
    """running -> failed `worker_lost`, guarded by the attempt like a requeue."""
    job_id = _running(db_session, caller, attempt=3)
    assert not lifecycle.fail_lost(db_session, job_id, attempt=2, reason="silent")
    assert lifecycle.fail_lost(db_session, job_id, attempt=3, reason="silent")
    row = _row(db_session, job_id)
    assert (row.status, row.error_code) == ("failed", "worker_lost") and row.finished_at is not None
    assert "giving up after 3 attempts" in (row.error_message or "")
    [(kind, _message, data)] = _events(db_session, job_id)
    assert (kind, data) == ("job.failed", {"attempt": 3, "reason": "silent"})


def test_force_cancel_ends_only_a_cancelling_job(db_session: Session, caller: Caller) -> None:
    """cancelling -> cancelled past the grace period; a running job is not touched."""
    cancelling = _job(db_session, caller, status=JobStatus.CANCELLING, attempts=1)
    running = _running(db_session, caller)
    assert lifecycle.force_cancel(db_session, cancelling, grace_s=30)
    assert not lifecycle.force_cancel(db_session, cancelling, grace_s=30)
    assert _row(db_session, cancelling).status == "cancelled"
    [(kind, message, _data)] = _events(db_session, cancelling)
    assert kind == "job.cancelled" and "within 30 s" in message
    assert not lifecycle.force_cancel(db_session, running, grace_s=30)
    assert _row(db_session, running).status == "running"


def test_add_event_keeps_any_data_key(db_session: Session, caller: Caller) -> None:
    """The event's own parameters are positional-only, so data may use their names."""
    job_id = _job(db_session, caller)
    row = lifecycle.add_event(db_session, job_id, "job.warning", "careful", message="m", type_="t")
    assert row.data == {"message": "m", "type_": "t"}
    assert _events(db_session, job_id) == [("job.warning", "careful", {"message": "m", "type_": "t"})]
