"""RFC 9457 problem details: every 4xx/5xx response is `application/problem+json`."""

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.problems import (
    DatabaseBusy,
    DatabaseUnavailable,
    MalformedJson,
    ProblemError,
    ValidationFailed,
    problem_response,
)
from secateur.kernel.settings import get_settings

logger = logging.getLogger("secateur.api")

# Loc parts that are not field names: the request part, and the tags of the task union.
_HIDDEN_LOC = frozenset({"body", "query", "path", "header", "builtin-task", "custom-task"})


def _field_name(loc: Sequence[Any]) -> str:
    """A dotted field path such as `task.train_file` or `hyperparameters.epochs`."""
    parts = [str(part) for part in loc if str(part) not in _HIDDEN_LOC]
    return ".".join(parts) or "body"


async def _problem_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Render a problem kind raised by a service or endpoint."""
    assert isinstance(exc, ProblemError)
    return exc.response()


async def _http_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Render Starlette's HTTPException (404 route, 405 method, ...) as an `about:blank` problem."""
    assert isinstance(exc, StarletteHTTPException)
    title = HTTPStatus(exc.status_code).phrase
    return problem_response(exc.status_code, str(exc.detail), title=title, headers=exc.headers)


async def _validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Render FastAPI's validation errors as one 422 problem listing each field."""
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    # A body that is not JSON at all is a syntax problem (400), not a field problem (422).
    if any(error.get("type") == "json_invalid" for error in raw):
        message = next(e for e in raw if e.get("type") == "json_invalid").get("ctx", {}).get("error", "")
        return MalformedJson(f"The request body is not valid JSON: {message}".rstrip(": ")).response()
    errors = [
        {"field": _field_name(e.get("loc", ())), "message": str(e.get("msg", "")), "type": e.get("type")}
        for e in raw
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return ValidationFailed(detail, errors=errors).response()


async def _database_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Pool exhausted or database down: a 503 the client may retry, never a 500."""
    headers = {"Retry-After": str(_retry_after_s())}
    if isinstance(exc, PoolTimeoutError):
        logger.warning("database pool exhausted: %s", exc)
        return DatabaseBusy("The database is busy; retry shortly.", headers=headers).response()
    logger.warning("database unavailable: %s", exc)
    return DatabaseUnavailable("The database is unavailable; retry shortly.", headers=headers).response()


def _retry_after_s() -> int:
    """The Retry-After of database 503s, from the settings."""
    return get_settings().retry_after_s


async def _unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    """The catch-all 500: log the trace for operators, tell the client nothing internal."""
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    title = HTTPStatus.INTERNAL_SERVER_ERROR.phrase
    return problem_response(500, "An internal error occurred; it has been logged.", title=title)


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error class to its problem+json renderer."""
    app.add_exception_handler(ProblemError, _problem_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(PoolTimeoutError, _database_handler)
    app.add_exception_handler(OperationalError, _database_handler)
    app.add_exception_handler(Exception, _unhandled_handler)
