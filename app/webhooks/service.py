"""Webhook use cases: register, read, change and remove endpoints, and list their deliveries."""

import base64
import secrets

from sqlalchemy.orm import Session

from app.core.problems import InvalidField, NotFound, TooManyWebhooks
from secateur.kernel.models import utcnow
from secateur.kernel.settings import Settings
from secateur.kernel.webhooks import repository
from secateur.kernel.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from secateur.kernel.webhooks.schemas import AttemptOut, DeliveryOut, WebhookCreate, WebhookUpdate
from secateur.kernel.webhooks.urls import UnsafeUrl, check_url

MAX_ENDPOINTS_PER_KEY = 16
SECRET_BYTES = 32  # Standard Webhooks asks for 24 to 64 random bytes


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form: `whsec_` and base64 of random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def checked_url(url: str, settings: Settings) -> str:
    """The URL if it is well-formed and resolves to addresses we may send to; 422 naming `url` if not."""
    try:
        return check_url(url, settings.webhook_allow_private).url
    except UnsafeUrl as exc:
        raise InvalidField("url", str(exc)) from exc


def create(session: Session, settings: Settings, owner_id: str, body: WebhookCreate) -> WebhookEndpoint:
    """Register an endpoint with a new secret; the caller shows the secret once."""
    url = checked_url(body.url, settings)
    if repository.count_owned(session, owner_id) >= MAX_ENDPOINTS_PER_KEY:
        raise TooManyWebhooks(
            f"This key already has {MAX_ENDPOINTS_PER_KEY} webhook endpoints; delete one first."
        )
    endpoint = WebhookEndpoint(
        owner_id=owner_id,
        url=url,
        description=body.description,
        events=list(body.events),
        secret=new_secret(),
    )
    session.add(endpoint)
    session.commit()
    return endpoint


def get(session: Session, owner_id: str, endpoint_id: str) -> WebhookEndpoint:
    """The caller's endpoint, or 404."""
    endpoint = repository.get_owned(session, owner_id, endpoint_id)
    if endpoint is None:
        raise NotFound(f"No webhook endpoint {endpoint_id!r}.")
    return endpoint


def update(
    session: Session, *, settings: Settings, owner_id: str, endpoint_id: str, body: WebhookUpdate
) -> WebhookEndpoint:
    """Change the fields sent; re-enabling starts the failure count afresh."""
    endpoint = get(session, owner_id, endpoint_id)
    if body.url is not None:
        endpoint.url = checked_url(body.url, settings)
    if body.events is not None:
        endpoint.events = list(body.events)
    if body.description is not None:
        endpoint.description = body.description
    if body.enabled is True and not endpoint.enabled:
        endpoint.enabled, endpoint.consecutive_failures = True, 0
        endpoint.disabled_reason, endpoint.disabled_at = None, None
    elif body.enabled is False and endpoint.enabled:
        endpoint.enabled, endpoint.disabled_reason = False, "disabled by its owner"
        endpoint.disabled_at = utcnow()
    session.commit()
    return endpoint


def delete(session: Session, owner_id: str, endpoint_id: str) -> None:
    """Remove the endpoint, its deliveries and their attempts."""
    endpoint = get(session, owner_id, endpoint_id)
    repository.delete_endpoint(session, endpoint.id)
    session.commit()


def deliveries(
    session: Session, *, owner_id: str, endpoint_id: str, limit: int, after: str | None, status: str | None
) -> tuple[list[DeliveryOut], bool]:
    """A page of the endpoint's deliveries, newest first, each with its attempts."""
    endpoint = get(session, owner_id, endpoint_id)
    cursor = None
    if after is not None:
        cursor = repository.get_delivery(session, endpoint.id, after)
        if cursor is None:
            raise InvalidField("after", f"no delivery {after!r} of this endpoint to page after")
    rows = repository.deliveries_page(session, endpoint.id, limit=limit, after=cursor, status=status)
    attempts = repository.attempts_of(session, [row.id for row in rows[:limit]])
    return [_delivery_out(row, attempts.get(row.id, [])) for row in rows[:limit]], len(rows) > limit


def _delivery_out(row: WebhookDelivery, attempts: list[WebhookAttempt]) -> DeliveryOut:
    """One delivery with its attempts."""
    return DeliveryOut(
        id=row.id,
        endpoint_id=row.endpoint_id,
        job_id=row.job_id,
        event_id=row.event_id,
        type=row.type,
        status=row.status,
        next_attempt_at=row.next_attempt_at,
        created_at=row.created_at,
        finished_at=row.finished_at,
        payload=row.payload,
        attempts=[AttemptOut.model_validate(a) for a in attempts],
    )
