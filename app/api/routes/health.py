"""Liveness and readiness probes (no auth)."""

import logging

from fastapi import APIRouter
from sqlalchemy import text

from app.api.deps import SessionDep, SettingsDep
from app.core.errors import ProblemError, problems
from secateur.kernel.queue import broker_reachable

router = APIRouter(tags=["health"])
logger = logging.getLogger("secateur.health")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=problems(503))
def readyz(session: SessionDep, settings: SettingsDep) -> dict[str, str]:
    """The database answers `SELECT 1` and the queue is reachable; 503 otherwise."""
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:
        logger.warning("readiness: database unreachable", exc_info=True)
        raise ProblemError(503, "The database is unreachable.", slug="not-ready") from exc
    if not broker_reachable(settings):
        raise ProblemError(503, "The job queue (broker) is unreachable.", slug="not-ready")
    return {"status": "ok", "database": "ok", "queue": settings.queue}
