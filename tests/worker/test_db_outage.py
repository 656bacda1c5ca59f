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
