"""The database going away mid-job requeues the job to resume; it never fails it."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

import worker.job_runner
import worker.outage
from secateur.kernel.models import JobStatus
from secateur.kernel.settings import Settings
from tests.support.job_rows import event_types, job, make_job
from worker.job_runner import run_job
from worker.outage import database_unreachable


def lose_the_database(*_args: Any, **_kwargs: Any) -> None:
    """A stand-in for the engine run whose progress write finds the database gone."""
    raise OperationalError("INSERT INTO events", {}, Exception("connection refused"))


def test_a_database_outage_mid_round_requeues_the_job_instead_of_failing_it(
    local_db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once the database answers again the job is queued to resume, with its attempt not held against it."""
    job_id = make_job()
    monkeypatch.setattr(worker.job_runner, "_prune", lose_the_database)
    run_job(job_id)
    row = job(job_id)
    assert row.status == JobStatus.QUEUED and row.error_code is None
    assert event_types(job_id)[-1] == "job.requeued"


def test_a_database_still_down_leaves_the_job_running_for_the_reconciler(
    local_db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No answer within the stale window: nothing is written, the heartbeat check takes over later."""
    job_id = make_job()
    monkeypatch.setattr(worker.job_runner, "_prune", lose_the_database)
    monkeypatch.setattr(worker.outage, "wait_for_database", lambda _timeout_s: False)
    run_job(job_id)
    assert job(job_id).status == JobStatus.RUNNING


def test_only_connection_errors_count_as_an_outage() -> None:
    """A constraint violation is a bug to report, not an outage to wait out."""
    refused = OperationalError("SELECT 1", {}, Exception("connection refused"))
    assert database_unreachable(refused)
    wrapped = RuntimeError("progress write failed")
    wrapped.__cause__ = refused
    assert database_unreachable(wrapped)
    assert not database_unreachable(IntegrityError("INSERT", {}, Exception("duplicate key")))
    assert not database_unreachable(ValueError("bad input"))


def test_a_database_outage_while_recording_the_result_requeues_the_job(
    local_db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run finished but the database went before the result was written: requeued, not stuck."""
    job_id = make_job()
    monkeypatch.setattr(worker.job_runner, "_prune", lambda *_args, **_kwargs: object())
    monkeypatch.setattr(worker.job_runner, "_succeed", lambda *_args, **_kwargs: lose_the_database())
    run_job(job_id)
    assert job(job_id).status == JobStatus.QUEUED
    assert event_types(job_id)[-1] == "job.requeued"


def test_the_local_runner_keeps_watching_its_job_process_through_an_outage(
    local_db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checks failing on a gone database neither end `_run` early nor leave the process unsupervised."""
    import subprocess

    from worker import local_runner

    popen, started = subprocess.Popen, []

    def short_job(_command: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """A job process that runs through the outage and exits without finishing its job."""
        started.append(popen(["sleep", "1"], **kwargs))
        return started[-1]

    monkeypatch.setattr(local_runner.subprocess, "Popen", short_job)
    job_id = make_job(status=JobStatus.QUEUED)
    runner = local_runner.LocalRunner(Settings(stale_after_s=60, max_attempts=3), poll_s=0.05)
    checks = iter(range(5))  # the first five checks find the database gone, then it answers again
    real = runner._cancel_overdue

    def cancel_overdue(checked_job: str) -> bool:
        """The runner's own check, once the outage is over."""
        if next(checks, None) is not None:
            return bool(lose_the_database())
        return real(checked_job)

    monkeypatch.setattr(runner, "_cancel_overdue", cancel_overdue)
    claimed = local_runner.claim_next(runner.name, 60)
    assert claimed == (job_id, 1)
    runner._run(*claimed)  # raised OperationalError and returned with the process still running
    assert started[0].poll() is not None, "_run returned while its job process was still running"
    row = job(job_id)
    assert row.status == JobStatus.QUEUED and row.attempts == 1
    assert event_types(job_id)[-1] == "job.requeued"
