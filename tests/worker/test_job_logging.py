"""The worker's log lines carry the id of the job they are about."""

import io
import logging

import pytest

from secateur.kernel.logs import structure
from worker import jobs


def test_run_job_logs_under_its_job_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever run_job logs (under Celery or the local runner) carries the job's id."""
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    structure(handler)
    monkeypatch.setattr(jobs, "_run_job", lambda job_id, attempt: jobs.log.info("working on %s", job_id))
    level = jobs.log.level
    # setLevel, not the attribute: loggers cache isEnabledFor answers, which setLevel clears.
    jobs.log.setLevel(logging.INFO)
    jobs.log.addHandler(handler)
    try:
        jobs.run_job("job_xyz")
    finally:
        jobs.log.removeHandler(handler)
        jobs.log.setLevel(level)
    assert 'job_id=job_xyz msg="working on job_xyz"' in lines.getvalue()
