"""Request and response bodies of the webhooks API."""

from datetime import datetime
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

# The job events a webhook endpoint can subscribe to; other event types stay in the job's log only.
EventType = Literal["job.succeeded", "job.failed", "job.cancelled", "round.finished", "baseline.scored"]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)
DeliveryStatusName = Literal["pending", "succeeded", "failed"]


def _unique(events: list[str] | None) -> list[str] | None:
    """The same event listed twice means once."""
    return None if events is None else list(dict.fromkeys(events))


class _Strict(BaseModel):
    """Unknown fields are an error, so a typo never silently falls back to a default."""

    model_config = ConfigDict(extra="forbid")


class WebhookCreate(_Strict):
    """The body of POST /v1/webhooks."""

    url: str = Field(min_length=1, max_length=2048, description="An http(s) URL on a public address.")
    events: list[EventType] = Field(
        default_factory=lambda: list(EVENT_TYPES), min_length=1, description="Default: every event type."
    )
    description: str = Field(default="", max_length=500)

    _dedupe = field_validator("events")(_unique)


class WebhookUpdate(_Strict):
    """The body of PATCH /v1/webhooks/{id}: only the fields sent change; `enabled: true` re-enables."""

    url: str | None = Field(default=None, min_length=1, max_length=2048)
    events: list[EventType] | None = Field(default=None, min_length=1)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None

    _dedupe = field_validator("events")(_unique)


class WebhookOut(BaseModel):
    """A webhook endpoint as the API shows it (its secret only once, at creation)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    url: str
    description: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    consecutive_failures: int
    created_at: datetime


class WebhookCreated(WebhookOut):
    """The creation answer: the only time the signing secret is shown."""

    secret: str = Field(description="The Standard Webhooks signing secret (`whsec_…`); store it now.")


class WebhookList(BaseModel):
    """The caller's webhook endpoints, newest first."""

    object: Literal["list"] = "list"
    data: list[WebhookOut]
    has_more: bool


class WebhookDeleted(BaseModel):
    """The answer to DELETE."""

    id: str
    object: Literal["webhook_endpoint"] = "webhook_endpoint"
    deleted: Literal[True] = True


class AttemptOut(BaseModel):
    """One HTTP attempt: the endpoint's status code, or the error that kept it from answering."""

    model_config = ConfigDict(from_attributes=True)

    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: float
    created_at: datetime


class DeliveryOut(BaseModel):
    """One event sent (or being sent) to one endpoint; `id` is the `webhook-id` header."""

    id: str
    object: Literal["webhook_delivery"] = "webhook_delivery"
    endpoint_id: str
    job_id: str
    event_id: int
    type: str
    status: DeliveryStatusName
    next_attempt_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    payload: dict[str, Any]
    attempts: list[AttemptOut]


class DeliveryList(BaseModel):
    """A page of deliveries, newest first; pass the last id as `after` for the next page."""

    object: Literal["list"] = "list"
    data: list[DeliveryOut]
    has_more: bool
