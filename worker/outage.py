"""The database gone mid-job: no fault of the job, so it is requeued to resume, never failed."""

from __future__ import annotations

import logging
import time

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from secateur.kernel.db import session_scope
from secateur.kernel.settings import Settings
from worker.reconciler import Summary, requeue_or_fail

log = logging.getLogger(__name__)
REASON = "the database could not be reached"


def database_unreachable(exc: BaseException) -> bool:
    """Whether `exc`, or an error that led to it, says the database could not be reached."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OperationalError | PoolTimeoutError):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def wait_for_database(timeout_s: float, poll_s: float = 1.0) -> bool:
    """Poll the database until it answers (True) or `timeout_s` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with session_scope() as session:
                session.execute(text("SELECT 1"))
            return True
        except (DBAPIError, PoolTimeoutError):
            if time.monotonic() >= deadline:
                return False
            time.sleep(poll_s)


def hand_back(job_id: str, attempt: int, settings: Settings) -> None:
    """Requeue the job to resume from its checkpoint once the database answers again."""
    # Failing it would end a healthy job for good, and recording the failure needs the very database
    # that is gone. Past the stale window the reconciler's heartbeat check requeues it instead.
    log.warning("job %s: attempt %d lost the database; requeued once it answers", job_id, attempt)
    if not wait_for_database(settings.stale_after_s):
        log.warning("job %s: the database still does not answer; the reconciler will requeue it", job_id)
        return
    try:
        requeue_or_fail(job_id, attempt, reason=REASON, settings=settings, summary=Summary(), may_fail=False)
    except (DBAPIError, PoolTimeoutError):
        log.warning("job %s: the database went again; the reconciler will requeue it", job_id, exc_info=True)
