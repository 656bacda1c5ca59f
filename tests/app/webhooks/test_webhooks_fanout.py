"""A job event becomes one delivery per subscribed endpoint, in the event's own transaction."""

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from secateur.kernel.lifecycle import add_event
from secateur.kernel.models import Job
from secateur.kernel.webhooks.models import WebhookDelivery, WebhookEndpoint

URL = "https://93.184.216.34/hooks"


def _deliveries(session: Session) -> list[WebhookDelivery]:
    return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)))


def test_a_subscribed_event_queues_a_delivery_with_the_job(db_session: Session, arrange: Any) -> None:
    """round.finished reaches an endpoint subscribed to it, with the event and the job as of now."""
    job, endpoint = arrange(db_session, URL)
    db_session.execute(update(Job).where(Job.id == job.id).values(round=2, layers_remaining=4))
    event = add_event(db_session, job.id, "round.finished", "round 2", round=2)
    db_session.commit()
    [delivery] = _deliveries(db_session)
    assert (delivery.endpoint_id, delivery.job_id, delivery.event_id) == (endpoint.id, job.id, event.id)
    assert delivery.status == "pending" and delivery.id.startswith("msg_")
    body = delivery.payload
    assert body["type"] == "round.finished" and body["timestamp"].endswith("Z")
    assert body["data"]["event"]["data"] == {"round": 2} and body["data"]["event"]["id"] == event.id
    # The UPDATE above was not seen by the ORM object; the payload still has the job as it is now.
    assert body["data"]["job"]["progress"]["round"] == 2 and body["data"]["job"]["id"] == job.id


def test_only_matching_enabled_endpoints_of_the_owner(
    db_session: Session, arrange: Any, other_caller: Any
) -> None:
    """Unsubscribed types, disabled endpoints and other keys' endpoints get nothing."""
    job, endpoint = arrange(db_session, URL, events=["job.succeeded"])
    disabled = WebhookEndpoint(
        owner_id=job.owner_id, url=URL, events=["job.succeeded"], secret="whsec_eA==", enabled=False
    )
    foreign = WebhookEndpoint(
        owner_id=other_caller.id, url=URL, events=["job.succeeded"], secret="whsec_eA=="
    )
    db_session.add_all([disabled, foreign])
    db_session.commit()
    for type_ in ("round.finished", "candidate.scored", "job.checkpointed"):
        add_event(db_session, job.id, type_)
    db_session.commit()
    assert _deliveries(db_session) == []
    add_event(db_session, job.id, "job.succeeded", "done")
    db_session.commit()
    assert [d.endpoint_id for d in _deliveries(db_session)] == [endpoint.id]


def test_a_rolled_back_event_leaves_no_delivery(db_session: Session, arrange: Any) -> None:
    """The delivery lives and dies with its event."""
    job, _endpoint = arrange(db_session, URL)
    add_event(db_session, job.id, "job.failed", "boom", code="x")
    db_session.rollback()
    assert _deliveries(db_session) == []


def test_cancelling_a_queued_job_queues_job_cancelled(
    client: TestClient, db_session: Session, caller: Any, make_job: Any
) -> None:
    """The API's own cancel writes job.cancelled with its delivery, and the payload says `cancelled`."""
    endpoint = WebhookEndpoint(owner_id=caller.id, url=URL, events=["job.cancelled"], secret="whsec_eA==")
    db_session.add(endpoint)
    db_session.commit()
    job = make_job(caller.id)
    assert client.post(f"/v1/jobs/{job.id}/cancel", headers=caller.headers).status_code == 200
    [delivery] = _deliveries(db_session)
    assert delivery.type == "job.cancelled" and delivery.payload["data"]["job"]["status"] == "cancelled"
    listed = client.get(f"/v1/webhooks/{endpoint.id}/deliveries", headers=caller.headers).json()
    assert [d["id"] for d in listed["data"]] == [delivery.id] and listed["data"][0]["attempts"] == []
