"""The problem kinds the API answers: one class per RFC 9457 `type`, carrying its status and title."""

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar

from fastapi.responses import JSONResponse
from pydantic import BaseModel

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:secateur:problem:"


class Problem(BaseModel):
    """An RFC 9457 problem details object, as every error response carries it."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, Any]] | None = None


def problem_type(slug: str) -> str:
    """The `type` URI of one of our problem kinds."""
    return f"{TYPE_PREFIX}{slug}"


def problem_response(
    status: int,
    detail: str,
    *,
    title: str,
    type_: str = "about:blank",
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Render one problem details object (members in RFC 9457 order; `errors` only when given)."""
    body: dict[str, Any] = {"type": type_, "title": title, "status": status, "detail": detail}
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


# Every concrete kind in definition order: the docs table and the OpenAPI examples read it.
KINDS: list[type["ProblemError"]] = []


class ProblemError(Exception):
    """An error that becomes a problem+json response; raise a concrete kind (one with a slug)."""

    status: ClassVar[int] = 500
    slug: ClassVar[str | None] = None
    title: ClassVar[str] = "Internal Server Error"
    default_headers: ClassVar[Mapping[str, str]] = MappingProxyType({})

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Register a kind the first time its (status, slug) pair appears."""
        super().__init_subclass__(**kwargs)
        if cls.slug is not None and kind_of(cls.status, cls.slug) is None:
            KINDS.append(cls)

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Keep the detail, the extra `errors` member and the response headers for the handler."""
        if self.slug is None:
            raise TypeError(f"{type(self).__name__} is a family of problems; raise one of its kinds")
        super().__init__(detail)
        self.detail, self.errors = detail, errors
        self.headers = {**self.default_headers, **(headers or {})}

    def response(self) -> JSONResponse:
        """This problem as its problem+json response."""
        assert self.slug is not None
        return problem_response(
            self.status,
            self.detail,
            title=self.title,
            type_=problem_type(self.slug),
            errors=self.errors,
            headers=self.headers or None,
        )


def kind_of(status: int, slug: str) -> type[ProblemError] | None:
    """The registered kind answering `status` with `slug`, if any."""
    return next((k for k in KINDS if (k.status, k.slug) == (status, slug)), None)


class BadRequest(ProblemError):
    """The request is malformed or refused by its checks."""

    status, title = 400, "Bad Request"


class MalformedJson(BadRequest):
    """The body is not JSON."""

    slug, title = "malformed-json", "Malformed JSON"


class InvalidArchive(BadRequest):
    """A model archive is unsafe or not a HF model; `errors[0].member` names the entry."""

    slug, title = "invalid-archive", "Invalid model archive"


class InvalidModel(BadRequest):
    """config.json is out of bounds, has an `auto_map` or disagrees with the weights (`errors[0].tensor`)."""

    slug, title = "invalid-model", "Invalid model"


class InvalidDataset(BadRequest):
    """A dataset is empty or not UTF-8."""

    slug, title = "invalid-dataset", "Invalid dataset"


class BadRange(BadRequest):
    """A malformed `Range` header on an artifact."""

    slug = "bad-range"


class Unauthorized(ProblemError):
    """Missing, unknown or revoked key (`WWW-Authenticate: Bearer`)."""

    status, slug, title = 401, "unauthorized", "Unauthorized"
    default_headers = MappingProxyType({"WWW-Authenticate": "Bearer"})


class NotFound(ProblemError):
    """No such object for this key."""

    status, slug, title = 404, "not-found", "Not Found"


class DepthNotFound(NotFound):
    """No accepted depth with that many layers (the detail lists those that exist)."""

    slug = "depth-not-found"


class ArtifactMissing(NotFound):
    """The job's archive is recorded but missing from storage."""

    slug = "artifact-missing"


class BodyTimeout(ProblemError):
    """A request body stopped arriving for `SECATEUR_BODY_READ_TIMEOUT_S`."""

    status, slug, title = 408, "body-timeout", "Request Timeout"
    default_headers = MappingProxyType({"Connection": "close"})


class Conflict(ProblemError):
    """The object's state forbids this."""

    status, title = 409, "Conflict"


class JobFinished(Conflict):
    """The job has already finished, so it cannot be cancelled."""

    slug = "job-finished"


class ArtifactNotReady(Conflict):
    """The job has not succeeded, so it has no artifact yet."""

    slug = "artifact-not-ready"


class FileInUse(Conflict):
    """An unfinished job uses the file."""

    slug = "file-in-use"


class TooManyWebhooks(Conflict):
    """The key already has as many webhook endpoints as it may."""

    slug = "too-many-webhooks"


class Gone(ProblemError):
    """The object existed but was deleted."""

    status, title = 410, "Gone"


class DepthDropped(Gone):
    """That depth was deleted to keep the job within its storage bound."""

    slug = "depth-dropped"


class PayloadTooLarge(ProblemError):
    """The request body is over its limit."""

    status, title = 413, "Request Entity Too Large"
    default_headers = MappingProxyType({"Connection": "close"})  # the rest of the body is never read


class FileTooLarge(PayloadTooLarge):
    """An upload over its size limit, chunked or not (nothing is kept)."""

    slug = "file-too-large"


class RangeNotSatisfiable(ProblemError):
    """The `Range` lies outside the artifact (`Content-Range: bytes */<size>`)."""

    status, slug, title = 416, "range-not-satisfiable", "Requested Range Not Satisfiable"


class ValidationFailed(ProblemError):
    """A field is invalid; `errors` names each one by its dotted path."""

    status, slug, title = 422, "validation-error", "Request validation failed"


class InvalidField(ValidationFailed):
    """A validation problem about one named request field (e.g. `task.train_file`)."""

    def __init__(self, field: str, message: str) -> None:
        """Name the field in the detail and in `errors`."""
        errors = [{"field": field, "message": message, "type": "value_error"}]
        super().__init__(f"{field}: {message}", errors=errors)


class InvalidHeader(InvalidField):
    """A request header is malformed (`Last-Event-ID` on the event stream)."""

    status = 400


class IdempotencyKeyReused(ProblemError):
    """A reused Idempotency-Key with another body."""

    status, slug, title = 422, "idempotency-key-reused", "Unprocessable Entity"


class RateLimited(ProblemError):
    """Too many requests for a key, or failed authentications from an address (`Retry-After`)."""

    status, slug, title = 429, "rate-limited", "Too Many Requests"


class ServiceUnavailable(ProblemError):
    """A server the API needs is missing."""

    status, title = 503, "Service Unavailable"


class NotReady(ServiceUnavailable):
    """`/readyz`: the database or the broker is unreachable."""

    slug = "not-ready"


class DatabaseBusy(ServiceUnavailable):
    """No database connection came free in time (`Retry-After`)."""

    slug = "database-busy"


class DatabaseUnavailable(ServiceUnavailable):
    """The database is down (`Retry-After`)."""

    slug = "database-unavailable"


# What every authenticated route may answer besides its own problems.
AUTH_PROBLEMS: tuple[type[ProblemError], ...] = (Unauthorized, RateLimited, DatabaseBusy, DatabaseUnavailable)
# What every route reading a JSON body may answer besides its own problems.
JSON_BODY_PROBLEMS: tuple[type[ProblemError], ...] = (MalformedJson, BodyTimeout, ValidationFailed)
