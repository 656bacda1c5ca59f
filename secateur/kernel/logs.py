"""Structured logs: logfmt lines (key=value) that carry the id of the job being worked on."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

job_id_var: ContextVar[str | None] = ContextVar("secateur_job_id", default=None)


@contextmanager
def job_context(job_id: str) -> Iterator[None]:
    """Every log record emitted inside carries `job_id`."""
    token = job_id_var.set(job_id)
    try:
        yield
    finally:
        job_id_var.reset(token)


class JobContextFilter(logging.Filter):
    """Copy the current job id onto each record (`-` outside a job)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Never drops a record, only annotates it."""
        record.job_id = job_id_var.get() or "-"
        return True


def _quote(value: object) -> str:
    """A logfmt value: bare when it has no space, quote or equals sign, else double-quoted."""
    text = str(value)
    if text and not any(c in text for c in ' "=\n'):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class LogfmtFormatter(logging.Formatter):
    """`ts=… level=… logger=… job_id=… msg="…"`, with the traceback as `exc="…"`."""

    def format(self, record: logging.LogRecord) -> str:
        """One line per record, whatever the message holds."""
        fields = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "job_id": getattr(record, "job_id", None) or job_id_var.get() or "-",
            "msg": record.getMessage(),
        }
        if record.exc_info:
            fields["exc"] = self.formatException(record.exc_info)
        return " ".join(f"{key}={_quote(value)}" for key, value in fields.items())


def structure(handler: logging.Handler) -> None:
    """Make `handler` write logfmt lines carrying the job id."""
    handler.addFilter(JobContextFilter())
    handler.setFormatter(LogfmtFormatter())


def configure_logging(level: int = logging.INFO) -> None:
    """Send every logger's records to stderr as logfmt lines (replaces logging.basicConfig)."""
    handler = logging.StreamHandler()
    structure(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
