"""Structured logs: logfmt lines that carry the job id of the work in progress."""

import io
import logging
from collections.abc import Iterator

import pytest

from secateur.kernel.logs import job_context, structure


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """A logfmt handler on the `secateur.test` logger, writing to a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    structure(handler)
    loggers = [logging.getLogger("secateur.test")]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    yield buffer
    for logger in loggers:
        logger.removeHandler(handler)


def test_records_carry_the_job_id_inside_a_job_context_only(lines: io.StringIO) -> None:
    """Inside job_context every line has job_id=<id>; outside it is `-`; messages are quoted."""
    log = logging.getLogger("secateur.test")
    with job_context("job_abc"):
        log.info('round %d: "kept" layer=3', 2)
    log.info("idle")
    first, second = lines.getvalue().splitlines()
    assert " level=info logger=secateur.test job_id=job_abc " in first
    assert first.endswith('msg="round 2: \\"kept\\" layer=3"')
    assert " job_id=- msg=idle" in second


def test_a_traceback_stays_on_one_line(lines: io.StringIO) -> None:
    """exc_info becomes an escaped `exc` field, so one record is one line."""
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("secateur.test").exception("failed")
    (line,) = lines.getvalue().splitlines()
    assert 'exc="Traceback' in line and "ValueError: boom" in line
