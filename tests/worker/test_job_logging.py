"""The worker's log lines carry the id of the job they are about."""

import io
import logging

import pytest

from app.core.logging import structure
from worker import jobs


def test_run_job_logs_under_its_job_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever run_job logs (under Celery or the local runner) carries the job's id."""
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    structure(handler)
    jobs.log.addHandler(handler)
    monkeypatch.setattr(jobs.log, "level", logging.INFO)
    monkeypatch.setattr(jobs, "_run_job", lambda job_id, attempt: jobs.log.info("working on %s", job_id))
    jobs.run_job("job_xyz")
    jobs.log.removeHandler(handler)
    assert 'job_id=job_xyz msg="working on job_xyz"' in lines.getvalue()
