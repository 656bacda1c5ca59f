"""Prometheus scrape endpoint (no auth, like the probes: expose it to your monitoring network only)."""

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    """Request latency of this process and the job figures read from the database."""
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
