"""The worker's log lines carry the id of the job they are about."""

import io
import logging

import pytest

from secateur.kernel.logs import structure
from worker import job_runner


def test_run_job_logs_under_its_job_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever run_job logs (under Celery or the local runner) carries the job's id."""
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    structure(handler)
    monkeypatch.setattr(
        job_runner, "_run_job", lambda job_id, *_: job_runner.log.info("working on %s", job_id)
    )
    level = job_runner.log.level
    # setLevel, not the attribute: loggers cache isEnabledFor answers, which setLevel clears.
    job_runner.log.setLevel(logging.INFO)
    job_runner.log.addHandler(handler)
    try:
        job_runner.run_job("job_xyz")
    finally:
        job_runner.log.removeHandler(handler)
        job_runner.log.setLevel(level)
    assert 'job_id=job_xyz msg="working on job_xyz"' in lines.getvalue()
