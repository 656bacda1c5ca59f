"""RFC 9457 problem details: every 4xx/5xx response is `application/problem+json`."""

import logging
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from secateur.kernel.settings import get_settings

logger = logging.getLogger("secateur.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Loc parts that are not field names: the request part, and the tags of the task union.
_HIDDEN_LOC = frozenset({"body", "query", "path", "header", "builtin-task", "custom-task"})


class Problem(BaseModel):
    """An RFC 9457 problem details object, as every error response carries it."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


_WHEN = {
    400: "Malformed request, or an upload refused by its checks (`invalid-archive`, `invalid-model`, ...).",
    401: "Missing, unknown or revoked API key.",
    404: "No such object for this key.",
    408: "The request body stopped arriving (`body-timeout`).",
    409: "The object's state forbids this.",
    410: "The object existed but was deleted (`depth-dropped`).",
    413: "The upload is over its size limit (`file-too-large`).",
    416: "The Range cannot be satisfied.",
    422: "A field is invalid (`validation-error`).",
    429: "Rate limited (`rate-limited`); see Retry-After.",
    503: "The database is busy or unreachable (`database-busy`, `database-unavailable`); see Retry-After.",
}
# What every authenticated route may answer besides its own problems.
AUTH_PROBLEMS = (401, 429, 503)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these problem statuses (main.py files their schema under problem+json)."""
    return {status: {"model": Problem, "description": _WHEN[status]} for status in sorted(set(statuses))}


def problem_type(slug: str) -> str:
    """The `type` URI of one of our problem kinds."""
    return f"urn:secateur:problem:{slug}"


class ProblemError(Exception):
    """An error that becomes a problem+json response; raised by services and endpoints."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        slug: str | None = None,
        title: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Keep the status, detail, problem kind and extra members for the handler."""
        super().__init__(detail)
        self.status, self.detail, self.slug = status, detail, slug
        self.title = title or HTTPStatus(status).phrase
        self.errors, self.headers = errors, headers


def field_error(field: str, message: str, status: int = 422) -> ProblemError:
    """A validation problem about one named request field (e.g. `task.train_file`)."""
    return ProblemError(
        status,
        f"{field}: {message}",
        slug="validation-error",
        title="Request validation failed",
        errors=[{"field": field, "message": message, "type": "value_error"}],
    )


def problem_response(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    title: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Render one problem details object."""
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field_name(loc: Sequence[Any]) -> str:
    """A dotted field path such as `task.train_file` or `hyperparameters.epochs`."""
    parts = [str(part) for part in loc if str(part) not in _HIDDEN_LOC]
    return ".".join(parts) or "body"


async def _problem_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Render a ProblemError raised by a service or endpoint."""
    assert isinstance(exc, ProblemError)
    type_ = problem_type(exc.slug) if exc.slug else "about:blank"
    return problem_response(
        exc.status, exc.detail, type_=type_, title=exc.title, errors=exc.errors, headers=exc.headers
    )


async def _http_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Render Starlette's HTTPException (404 route, 405 method, ...) as a problem."""
    assert isinstance(exc, StarletteHTTPException)
    return problem_response(exc.status_code, str(exc.detail), headers=exc.headers)


async def _validation_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Render FastAPI's validation errors as one 422 problem listing each field."""
    assert isinstance(exc, RequestValidationError)
    raw = list(exc.errors())
    # A body that is not JSON at all is a syntax problem (400), not a field problem (422).
    if any(error.get("type") == "json_invalid" for error in raw):
        message = next(e for e in raw if e.get("type") == "json_invalid").get("ctx", {}).get("error", "")
        return problem_response(
            400,
            f"The request body is not valid JSON: {message}".rstrip(": "),
            type_=problem_type("malformed-json"),
            title="Malformed JSON",
        )
    errors = [
        {"field": _field_name(e.get("loc", ())), "message": str(e.get("msg", "")), "type": e.get("type")}
        for e in raw
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
    return problem_response(
        422, detail, type_=problem_type("validation-error"), title="Request validation failed", errors=errors
    )


async def _database_handler(_request: Request, exc: Exception) -> JSONResponse:
    """Pool exhausted or database down: a 503 the client may retry, never a 500."""
    retry_after = str(_retry_after_s())
    if isinstance(exc, PoolTimeoutError):
        logger.warning("database pool exhausted: %s", exc)
        detail, slug = "The database is busy; retry shortly.", "database-busy"
    else:
        logger.warning("database unavailable: %s", exc)
        detail, slug = "The database is unavailable; retry shortly.", "database-unavailable"
    return problem_response(503, detail, type_=problem_type(slug), headers={"Retry-After": retry_after})


def _retry_after_s() -> int:
    """The Retry-After of database 503s, from the settings."""
    return get_settings().retry_after_s


async def _unhandled_handler(request: Request, exc: Exception) -> JSONResponse:
    # Log the trace for operators; the client only learns that it was our fault.
    """The catch-all 500: log the trace, tell the client nothing internal."""
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "An internal error occurred; it has been logged.")


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error class to its problem+json renderer."""
    app.add_exception_handler(ProblemError, _problem_handler)
    app.add_exception_handler(StarletteHTTPException, _http_handler)
    app.add_exception_handler(RequestValidationError, _validation_handler)
    app.add_exception_handler(PoolTimeoutError, _database_handler)
    app.add_exception_handler(OperationalError, _database_handler)
    app.add_exception_handler(Exception, _unhandled_handler)
