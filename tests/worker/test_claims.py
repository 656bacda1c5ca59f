"""The claim, the reconciler and the observer's guards, on SQLite without Celery or torch."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from secateur.kernel.db import session_scope
from secateur.kernel.models import CandidateScore, Event, Job, JobStatus, Round, utcnow
from secateur.kernel.settings import Settings
from tests.support.job_rows import event_types, job, make_job
from worker.job_runner import claim
from worker.progress import DbObserver, forget_after
from worker.pruning.types import RoundRecord
from worker.reconciler import gpu_backlog, reconcile


def test_a_job_is_claimed_once_until_its_heartbeat_goes_stale(local_db: Settings) -> None:
    """A duplicate delivery gets nothing; a stale heartbeat lets the next attempt resume."""
    job_id = make_job()
    assert claim(job_id, "a:1", stale_after_s=60) == 1
    assert claim(job_id, "b:2", stale_after_s=60) is None
    assert job(job_id).worker == "a:1" and job(job_id).status == JobStatus.RUNNING
    with session_scope() as session:
        old = utcnow() - timedelta(seconds=120)
        session.execute(update(Job).where(Job.id == job_id).values(heartbeat_at=old))
    assert claim(job_id, "b:2", stale_after_s=60) == 2
    assert job(job_id).worker == "b:2"
    assert event_types(job_id).count("job.started") == 2


@pytest.mark.parametrize(
    "values",
    [
        {"status": JobStatus.CANCELLED},
        {"status": JobStatus.SUCCEEDED},
        {"status": JobStatus.QUEUED, "cancel_requested_at": utcnow()},
    ],
)
def test_finished_or_cancelled_jobs_are_never_claimed(local_db: Settings, values: dict[str, Any]) -> None:
    """A cancelled queued job never starts; a finished one never runs again."""
    job_id = make_job(**values)
    assert claim(job_id, "a:1", stale_after_s=60) is None
    assert job(job_id).attempts == 0


def test_the_reconciler_requeues_stale_jobs_then_gives_up(local_db: Settings) -> None:
    """Stale once: requeued. Stale at max_attempts: failed `worker_lost`. Fresh: left alone."""
    old = utcnow() - timedelta(seconds=120)
    first = make_job(status=JobStatus.RUNNING, attempts=1, heartbeat_at=old)
    last = make_job(status=JobStatus.RUNNING, attempts=2, heartbeat_at=old)
    fresh = make_job(status=JobStatus.RUNNING, attempts=1, heartbeat_at=utcnow())
    summary = reconcile(settings=local_db)
    assert summary.requeued == [first] and summary.failed == [last]
    assert job(first).status == JobStatus.QUEUED and "job.requeued" in event_types(first)
    assert job(last).status == JobStatus.FAILED and job(last).error_code == "worker_lost"
    assert "2 attempts" in (job(last).error_message or "")
    assert job(fresh).status == JobStatus.RUNNING


def test_the_reconciler_finishes_cancels_the_worker_did_not(local_db: Settings) -> None:
    """Past the grace period a cancelling job is cancelled; a dead worker's cancelling job too."""
    now = utcnow()
    overdue = make_job(
        status=JobStatus.CANCELLING,
        attempts=1,
        heartbeat_at=now,
        cancel_requested_at=now - timedelta(seconds=60),
    )
    recent = make_job(status=JobStatus.CANCELLING, attempts=1, heartbeat_at=now, cancel_requested_at=now)
    dead = make_job(
        status=JobStatus.CANCELLING,
        attempts=1,
        heartbeat_at=now - timedelta(seconds=120),
        cancel_requested_at=now,
    )
    summary = reconcile(settings=local_db)
    assert sorted(summary.cancelled) == sorted([overdue, dead])
    assert job(overdue).status == JobStatus.CANCELLED and job(dead).status == JobStatus.CANCELLED
    assert job(recent).status == JobStatus.CANCELLING


def record(round_: int) -> RoundRecord:
    """A finished round that removed layer `round_`."""
    return RoundRecord(round_, 5 - round_, (), round_, 0.9, 0.88, 0.95, True, 1.0, 10)


def test_rounds_are_recorded_once_and_a_lost_claim_stops_the_engine(local_db: Settings) -> None:
    """A replayed round is not recorded twice; once the job is taken away, the observer stops writing."""
    job_id = make_job()
    attempt = claim(job_id, "a:1", stale_after_s=60)
    assert attempt == 1
    observer = DbObserver(job_id, attempt, heartbeat_s=0.0, poll_s=0.0)
    observer.on_baseline(0.9, 0.88, 4)
    observer.on_candidate(1, 0, 0.8, 0.1)
    observer.on_candidate(1, 0, 0.7, 0.1)  # a resumed round replaying its first candidate
    observer.on_round(record(1))
    observer.on_round(record(1))
    observer.on_candidate(2, 1, 0.8, 0.1)
    assert not observer.should_stop()
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Round).where(Round.job_id == job_id)) == 1
        scores = session.scalars(select(CandidateScore.score).where(CandidateScore.job_id == job_id)).all()
        assert sorted(scores) == [0.8, 0.8]
    assert job(job_id).round == 1 and job(job_id).layers_remaining == 3

    forget_after(job_id, 1)  # resuming from round 1's checkpoint drops round 2's partial work
    with session_scope() as session:
        assert session.scalars(select(CandidateScore.round).where(CandidateScore.job_id == job_id)).all() == [
            1
        ]
        # The reconciler hands the job to attempt 2.
        session.execute(update(Job).where(Job.id == job_id).values(attempts=2))
    assert observer.should_stop() and observer.lost
    observer.on_round(record(2))
    with session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Round).where(Round.job_id == job_id)) == 1


@pytest.mark.redis
def test_lost_messages_are_sent_again_but_waiting_ones_are_not(local_db: Settings, broker_url: str) -> None:
    """A queued job whose message is gone is resent; behind a backlog, an old message may just be waiting."""
    settings = Settings(queue="celery", broker_url=broker_url, lost_queued_after_s=60)
    old = utcnow() - timedelta(seconds=120)
    never_sent, lost = make_job(), make_job(enqueued_at=old)
    assert sorted(reconcile(settings=settings).resent) == sorted([never_sent, lost])
    assert (job(lost).enqueued_at or old) > old
    assert gpu_backlog(settings) == 2  # no worker here: both messages wait in the queue

    waiting = make_job(enqueued_at=old)
    assert reconcile(settings=settings).resent == []
    assert job(waiting).enqueued_at == old


def test_the_local_runner_takes_back_a_job_whose_process_hangs(
    local_db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job process that is alive but silent (SIGSTOP, a deadlock) is killed and its job requeued."""
    import subprocess

    from worker import local_runner

    popen = subprocess.Popen

    def hung(_command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """A process that never heartbeats and would outlive the test."""
        return popen(["sleep", "120"], **kwargs)

    monkeypatch.setattr(local_runner.subprocess, "Popen", hung)
    job_id = make_job(status=JobStatus.QUEUED)
    runner = local_runner.LocalRunner(Settings(stale_after_s=1, max_attempts=3), poll_s=0.1)
    claimed = local_runner.claim_next(runner.name, 1)
    assert claimed == (job_id, 1)
    runner._run(*claimed)
    row = job(job_id)
    assert row.status == JobStatus.QUEUED and row.attempts == 1
    with session_scope() as session:
        requeued = session.scalars(
            select(Event).where(Event.job_id == job_id, Event.type == "job.requeued")
        ).one()
    assert "no heartbeat" in requeued.message


def test_a_full_disk_at_artifact_upload_fails_the_job_clearly_and_keeps_nothing(
    local_db: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC while storing the artifact: `storage_full`, no artifact key, no partial blob left."""
    import errno
    import shutil

    from secateur.kernel.storage import LocalStorage
    from worker import job_runner
    from worker.pruning.types import PruneResult

    def fill_up(source: Any, target: Any, _length: int = 0) -> None:
        """Write a little of the file, then run out of space, as a full disk does."""
        target.write(source.read(10))
        raise OSError(errno.ENOSPC, "No space left on device")

    job_id = make_job(status=JobStatus.QUEUED)
    attempt = claim(job_id, "test:1", stale_after_s=60)
    assert attempt == 1
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)
    (work / "out" / "config.json").write_text("{}" * 100)
    storage = LocalStorage(tmp_path / "blobs")
    monkeypatch.setattr(shutil, "copyfileobj", fill_up)
    result = PruneResult("aglp", "accuracy", 0.9, 0.9, 0.5, 0.9, 0.9, 1.0, (0,), (1,), 2, 10, 5, (), 8, 1.0)
    job_runner._succeed(job_id, attempt, storage=storage, work=work, result=result)

    row = job(job_id)
    assert row.status == JobStatus.FAILED and row.error_code == "storage_full"
    assert "no space left" in (row.error_message or "") and row.artifact_key is None
    assert not [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert event_types(job_id)[-1] == "job.failed"


def test_a_full_disk_at_a_kept_depths_upload_fails_storage_full_not_internal_error(
    local_db: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ENOSPC mid-run, while a round's depth is stored: `storage_full`, and no partial depth kept."""
    import errno
    import shutil

    import worker.job_runner
    from secateur.kernel.storage import get_storage
    from worker.blobs import depth_key
    from worker.job_runner import run_job

    def fill_up(source: Any, target: Any, _length: int = 0) -> None:
        """Write a little of the file, then run out of space, as a full disk does."""
        target.write(source.read(10))
        raise OSError(errno.ENOSPC, "No space left on device")

    def store_a_depth(job_id: str, *_args: Any, **_kwargs: Any) -> None:
        """The engine's first accepted depth, stored as keep_depths does."""
        depth = tmp_path / "layers-3.tar.gz"
        depth.write_bytes(b"weights" * 100)
        get_storage().put_file(depth_key(job_id, 3), depth)

    job_id = make_job()
    monkeypatch.setattr(shutil, "copyfileobj", fill_up)
    monkeypatch.setattr(worker.job_runner, "_prune", store_a_depth)
    run_job(job_id)
    row = job(job_id)
    assert row.status == JobStatus.FAILED and row.error_code == "storage_full"
    assert "no space left" in (row.error_message or "")
    assert not [p for p in (local_db.data_dir / "blobs").rglob("*") if p.is_file()]
