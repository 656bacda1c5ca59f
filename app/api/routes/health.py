"""Liveness and readiness probes (no auth)."""

import logging

from fastapi import APIRouter
from sqlalchemy import text

from app.api.deps import SessionDep, SettingsDep
from app.core.problems import NotReady
from app.core.problems_openapi import problem_responses
from secateur.kernel.queue import broker_reachable

router = APIRouter(tags=["health"])
logger = logging.getLogger("secateur.health")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    """The process is up."""
    return {"status": "ok"}


@router.get("/readyz", responses=problem_responses(NotReady))
def readyz(session: SessionDep, settings: SettingsDep) -> dict[str, str]:
    """The database answers `SELECT 1` and the queue is reachable; 503 otherwise."""
    try:
        session.execute(text("SELECT 1"))
    except Exception as exc:
        logger.warning("readiness: database unreachable", exc_info=True)
        raise NotReady("The database is unreachable.") from exc
    if not broker_reachable(settings):
        raise NotReady("The job queue (broker) is unreachable.")
    return {"status": "ok", "database": "ok", "queue": settings.queue}
