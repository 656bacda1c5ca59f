"""All SQL about webhook endpoints, their deliveries and the attempts of each delivery."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.orm import Session

from secateur.kernel.webhooks.models import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEndpoint


def get_owned(session: Session, owner_id: str, endpoint_id: str) -> WebhookEndpoint | None:
    """The endpoint if it exists and belongs to `owner_id`; another key's endpoint is not found."""
    query = select(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint_id, WebhookEndpoint.owner_id == owner_id
    )
    return session.scalars(query).one_or_none()


def list_owned(session: Session, owner_id: str) -> list[WebhookEndpoint]:
    """All of the owner's endpoints, newest first."""
    query = select(WebhookEndpoint).where(WebhookEndpoint.owner_id == owner_id)
    return list(session.scalars(query.order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id.desc())))


def count_owned(session: Session, owner_id: str) -> int:
    """How many endpoints the owner has."""
    return len(session.scalars(select(WebhookEndpoint.id).where(WebhookEndpoint.owner_id == owner_id)).all())


def delete_endpoint(session: Session, endpoint_id: str) -> None:
    """Remove an endpoint; its deliveries and their attempts go with it (ON DELETE CASCADE)."""
    delivery_ids = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint_id)
    # Explicit deletes too: SQLite only cascades with PRAGMA foreign_keys, which a test engine may lack.
    session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids)))
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id))
    session.execute(delete(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id))


def subscribed(session: Session, owner_id: str, event_type: str) -> list[WebhookEndpoint]:
    """The owner's enabled endpoints whose filter includes `event_type`.

    The filter is read in Python: a key has a handful of endpoints, and JSON containment differs
    between SQLite and PostgreSQL.
    """
    query = select(WebhookEndpoint).where(WebhookEndpoint.owner_id == owner_id, WebhookEndpoint.enabled)
    return [e for e in session.scalars(query.order_by(WebhookEndpoint.id)) if event_type in e.events]


def add_delivery(
    session: Session, endpoint_id: str, *, job_id: str, event_id: int, type_: str, payload: dict[str, Any]
) -> WebhookDelivery:
    """Queue one event for one endpoint, due at once."""
    row = WebhookDelivery(
        endpoint_id=endpoint_id, job_id=job_id, event_id=event_id, type=type_, payload=payload
    )
    session.add(row)
    return row


def deliveries_page(
    session: Session, endpoint_id: str, *, limit: int, after: WebhookDelivery | None, status: str | None
) -> list[WebhookDelivery]:
    """Up to `limit + 1` deliveries newest first, strictly after the cursor (the extra row means more)."""
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if after is not None:
        query = query.where(
            or_(
                WebhookDelivery.created_at < after.created_at,
                and_(WebhookDelivery.created_at == after.created_at, WebhookDelivery.id < after.id),
            )
        )
    order = (WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
    return list(session.scalars(query.order_by(*order).limit(limit + 1)))


def get_delivery(session: Session, endpoint_id: str, delivery_id: str) -> WebhookDelivery | None:
    """One delivery of the endpoint."""
    query = select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id
    )
    return session.scalars(query).one_or_none()


def attempts_of(session: Session, delivery_ids: list[str]) -> dict[str, list[WebhookAttempt]]:
    """The attempts of each delivery, oldest first."""
    rows = session.scalars(
        select(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(delivery_ids)).order_by(WebhookAttempt.id)
    )
    by_delivery: dict[str, list[WebhookAttempt]] = {}
    for row in rows:
        by_delivery.setdefault(row.delivery_id, []).append(row)
    return by_delivery


def due(session: Session, now: datetime, limit: int) -> list[str]:
    """Ids of pending deliveries whose next attempt is due, the longest-waiting first."""
    query = (
        select(WebhookDelivery.id)
        .where(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    return list(session.scalars(query))


def claim_attempt(session: Session, delivery_id: str, now: datetime, lease_s: float) -> bool:
    """Take the next attempt of a due delivery with a compare-and-set; False if not due or taken.

    The lease pushes `next_attempt_at` past the attempt's timeout, so a second copy of the task (or the
    sweeper) cannot send it at the same time, and a worker that dies mid-attempt is retried later.
    """
    result = session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
            WebhookDelivery.next_attempt_at <= now,
        )
        .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=now + timedelta(seconds=lease_s))
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def load_for_attempt(session: Session, delivery_id: str) -> tuple[WebhookDelivery, WebhookEndpoint]:
    """The delivery and its endpoint."""
    delivery = session.get_one(WebhookDelivery, delivery_id)
    return delivery, session.get_one(WebhookEndpoint, delivery.endpoint_id)


def add_attempt(
    session: Session, delivery_id: str, *, attempt: int, status_code: int | None, error: str | None, ms: float
) -> None:
    """Record one attempt's outcome."""
    session.add(
        WebhookAttempt(
            delivery_id=delivery_id, attempt=attempt, status_code=status_code, error=error, duration_ms=ms
        )
    )


def finish_delivery(session: Session, delivery_id: str, status: str, now: datetime) -> None:
    """Mark a delivery succeeded or failed for good."""
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .values(status=status, finished_at=now, next_attempt_at=None)
    )


def schedule_retry(session: Session, delivery_id: str, at: datetime) -> None:
    """Set when the next attempt of a pending delivery is due."""
    session.execute(
        update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(next_attempt_at=at)
    )


def reset_failures(session: Session, endpoint_id: str) -> None:
    """A success breaks the endpoint's run of failures."""
    session.execute(
        update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(consecutive_failures=0)
    )


def count_failure(session: Session, endpoint_id: str) -> int:
    """Add one to the endpoint's run of failures (in SQL, so concurrent attempts all count); the new run."""
    session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id)
        .values(consecutive_failures=WebhookEndpoint.consecutive_failures + 1)
    )
    query = select(WebhookEndpoint.consecutive_failures).where(WebhookEndpoint.id == endpoint_id)
    return int(session.execute(query).scalar_one())


def disable(session: Session, endpoint_id: str, reason: str, now: datetime) -> bool:
    """Disable an enabled endpoint and fail its pending deliveries; True only for the call that did it."""
    result = session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.enabled)
        .values(enabled=False, disabled_reason=reason, disabled_at=now)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == DeliveryStatus.PENDING)
        .values(status=DeliveryStatus.FAILED, finished_at=now, next_attempt_at=None)
    )
    return True
