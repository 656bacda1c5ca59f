"""The FastAPI application: routers, problem+json errors and the bootstrap key."""

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from app.api.deps import get_session_factory
from app.api.routes.health import router as health_router
from app.api.routes.metrics import router as metrics_router
from app.core.errors import install_problem_handlers
from app.core.http import BodyTimeoutMiddleware, HeadAsGetMiddleware
from app.core.problems_openapi import file_problems
from app.files.endpoints import router as files_router
from app.files.limits import UploadLimitMiddleware
from app.jobs.endpoints import router as jobs_router
from app.keys.service import ensure_bootstrap_key
from app.metrics import LatencyMiddleware, Metrics
from app.ui.endpoints import router as ui_router
from app.ui.endpoints import static as ui_static
from app.webhooks.endpoints import router as webhooks_router
from secateur.kernel.settings import get_settings

logger = logging.getLogger("secateur.api")


def _session_factory(app: FastAPI) -> sessionmaker[Session]:
    """The requests' session factory, outside a request: the test override, else the configured one."""
    return app.dependency_overrides.get(get_session_factory, get_session_factory)()


def _bootstrap(app: FastAPI) -> None:
    """Ensure SECATEUR_BOOTSTRAP_API_KEY exists; honours dependency overrides so tests can drive it."""
    settings = app.dependency_overrides.get(get_settings, get_settings)()
    if not settings.bootstrap_api_key:
        return
    with _session_factory(app)() as session:
        try:
            ensure_bootstrap_key(session, settings.bootstrap_api_key)
            session.commit()
        except (OperationalError, ProgrammingError) as exc:
            # The usual cause on a first run: the prestart step (migrations) has not been run.
            raise RuntimeError(
                "cannot ensure SECATEUR_BOOTSTRAP_API_KEY: is the database migrated? "
                "Run `alembic upgrade head` (or secateur.kernel.migrate.upgrade_to_head()) first."
            ) from exc
    logger.info("bootstrap API key ensured")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start-up work is light: migrations run in the prestart step, not here."""
    await run_in_threadpool(_bootstrap, app)
    yield


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI document, each route declaring the problem kinds it raises."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        file_problems(schema)
        app.openapi_schema = schema
    return app.openapi_schema


def create_app() -> FastAPI:
    """Build the application."""
    app = FastAPI(
        title="Secateur",
        summary="Layer pruning as a service (Adaptive Greedy Layer Pruning).",
        version="0.1.0",
        lifespan=lifespan,
    )
    install_problem_handlers(app)
    app.state.metrics = Metrics(lambda: _session_factory(app))
    app.add_middleware(UploadLimitMiddleware)
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(BodyTimeoutMiddleware)
    # Outermost, so it also times the answers other middleware give on their own.
    app.add_middleware(LatencyMiddleware, metrics=app.state.metrics)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(files_router)
    app.include_router(jobs_router)
    app.include_router(webhooks_router)
    app.include_router(ui_router)
    app.mount("/ui/static", ui_static, name="ui-static")
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


app = create_app()
