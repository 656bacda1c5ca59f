"""Deliveries to a real HTTP server: signed, recorded, retried with backoff, and an endpoint disabled."""

import threading
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from celery.exceptions import Retry
from sqlalchemy import select, update
from standardwebhooks import Webhook

from secateur.kernel.db import session_scope
from secateur.kernel.lifecycle import add_event
from secateur.kernel.models import Event, utcnow
from secateur.kernel.settings import Settings
from secateur.kernel.webhooks.delivery import deliver, retry_delay_s
from secateur.kernel.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.support.webhook_receiver import Receiver
from worker.webhooks import DeliveryLoop, run_due, sweep


def _event(job_id: str, type_: str = "job.succeeded") -> list[str]:
    """Record a job event the way the worker does; the ids of the deliveries it queued."""
    with session_scope() as session:
        add_event(session, job_id, type_, "5 of 6 layers removed", layers_removed=5)
    with session_scope() as session:
        return list(session.scalars(select(WebhookDelivery.id).order_by(WebhookDelivery.created_at)))


def _setup(receiver: Receiver, arrange: Any, events: list[str] | None = None) -> tuple[str, WebhookEndpoint]:
    with session_scope() as session:
        job, endpoint = arrange(session, receiver.url, events)
        session.expunge_all()
    return job.id, endpoint


def _make_due(delivery_id: str) -> None:
    """Skip the backoff wait (the tests check when the next attempt was scheduled, not sleep through it)."""
    with session_scope() as session:
        session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(next_attempt_at=utcnow())
        )


def _state(delivery_id: str) -> tuple[WebhookDelivery, list[WebhookAttempt], WebhookEndpoint]:
    with session_scope() as session:
        delivery = session.get_one(WebhookDelivery, delivery_id)
        attempts = list(
            session.scalars(
                select(WebhookAttempt)
                .where(WebhookAttempt.delivery_id == delivery_id)
                .order_by(WebhookAttempt.id)
            )
        )
        endpoint = session.get_one(WebhookEndpoint, delivery.endpoint_id)
        session.expunge_all()
    return delivery, attempts, endpoint


def test_a_delivery_is_signed_so_standardwebhooks_verifies_it(
    sender_settings: Settings, receiver: Receiver, arrange: Any
) -> None:
    """The receiver's copy verifies with the endpoint's secret; the attempt is recorded with its status."""
    job_id, endpoint = _setup(receiver, arrange)
    [delivery_id] = _event(job_id)
    assert deliver(delivery_id, sender_settings) is None
    [request] = receiver.requests
    assert request.path == "/hooks" and request.headers["webhook-id"] == delivery_id
    body = Webhook(endpoint.secret).verify(request.body, request.headers)
    assert body["type"] == "job.succeeded" and body["data"]["job"]["id"] == job_id
    assert body["data"]["event"]["data"] == {"layers_removed": 5}
    with pytest.raises(Exception, match="signature"):
        Webhook("whsec_" + "A" * 43).verify(request.body, request.headers)  # another secret fails
    delivery, [attempt], _ = _state(delivery_id)
    assert delivery.status == "succeeded" and delivery.finished_at is not None
    assert attempt.status_code == 200 and attempt.error is None and attempt.duration_ms > 0
    assert deliver(delivery_id, sender_settings) is None and len(receiver.requests) == 1  # sent once


def test_failures_are_retried_with_exponential_backoff_then_succeed(
    sender_settings: Settings, receiver: Receiver, arrange: Any
) -> None:
    """500, 503, then 200: waits of 5 s and 10 s, the same webhook-id each time, three attempts recorded."""
    job_id, _ = _setup(receiver, arrange)
    [delivery_id] = _event(job_id)
    receiver.statuses[:] = [500, 503]
    before = utcnow()
    assert deliver(delivery_id, sender_settings) == 5.0
    delivery, _, endpoint = _state(delivery_id)
    assert delivery.status == "pending" and endpoint.consecutive_failures == 1
    assert delivery.next_attempt_at is not None
    assert before + timedelta(seconds=5) <= delivery.next_attempt_at <= utcnow() + timedelta(seconds=5)
    assert deliver(delivery_id, sender_settings) is None  # not due yet: nothing is sent
    assert len(receiver.requests) == 1
    _make_due(delivery_id)
    assert deliver(delivery_id, sender_settings) == 10.0
    _make_due(delivery_id)
    assert deliver(delivery_id, sender_settings) is None
    delivery, attempts, endpoint = _state(delivery_id)
    assert [a.status_code for a in attempts] == [500, 503, 200] and [a.attempt for a in attempts] == [1, 2, 3]
    assert attempts[0].error == "HTTP 500: nope"
    assert delivery.status == "succeeded" and endpoint.consecutive_failures == 0  # a success resets the run
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


def test_backoff_doubles_up_to_the_cap(sender_settings: Settings) -> None:
    """5, 10, 20, ... seconds, never more than webhook_retry_max_s."""
    sender_settings.webhook_retry_max_s = 30
    assert [retry_delay_s(n, sender_settings) for n in range(1, 6)] == [5, 10, 20, 30, 30]


def test_a_delivery_gives_up_after_max_attempts(
    sender_settings: Settings, receiver: Receiver, arrange: Any
) -> None:
    """After webhook_max_attempts failures the delivery is failed for good."""
    sender_settings.webhook_max_attempts, sender_settings.webhook_disable_after = 2, 10
    job_id, _ = _setup(receiver, arrange)
    [delivery_id] = _event(job_id)
    receiver.statuses[:] = [500, 500, 500]
    assert deliver(delivery_id, sender_settings) == 5.0
    _make_due(delivery_id)
    assert deliver(delivery_id, sender_settings) is None
    delivery, attempts, endpoint = _state(delivery_id)
    assert delivery.status == "failed" and len(attempts) == 2 and endpoint.enabled


def test_an_endpoint_failing_n_times_in_a_row_is_disabled_with_an_event(
    sender_settings: Settings, receiver: Receiver, arrange: Any
) -> None:
    """Three failures in a row (the setting) disable it; the job's log says so; nothing more is sent."""
    job_id, endpoint = _setup(receiver, arrange, ["round.finished"])
    receiver.statuses[:] = [500] * 10
    for round_ in range(3):
        with session_scope() as session:
            add_event(session, job_id, "round.finished", f"round {round_}", round=round_)
    run_due(sender_settings)
    with session_scope() as session:
        row = session.get_one(WebhookEndpoint, endpoint.id)
        assert not row.enabled and row.disabled_reason and "3 failed attempts in a row" in row.disabled_reason
        events = session.scalars(
            select(Event).where(Event.job_id == job_id, Event.type == "webhook.endpoint_disabled")
        )
        [event] = list(events)
        assert event.data["endpoint_id"] == endpoint.id
        statuses = set(session.scalars(select(WebhookDelivery.status)))
    assert statuses == {"failed"} and len(receiver.requests) == 3
    with session_scope() as session:  # a disabled endpoint gets no new deliveries
        add_event(session, job_id, "round.finished", "round 4", round=4)
    assert run_due(sender_settings) == 0


def test_the_ssrf_guard_runs_again_at_delivery(
    sender_settings: Settings, receiver: Receiver, arrange: Any
) -> None:
    """An endpoint accepted earlier is refused at send time once its host is not allowed (DNS may change)."""
    job_id, _ = _setup(receiver, arrange)
    [delivery_id] = _event(job_id)
    sender_settings.webhook_allow_private = False
    assert deliver(delivery_id, sender_settings) == 5.0
    _, [attempt], _ = _state(delivery_id)
    assert attempt.status_code is None and "loopback address" in (attempt.error or "")
    assert receiver.requests == []


def test_an_unreachable_endpoint_is_recorded_clearly(
    sender_settings: Settings, arrange: Any, receiver: Receiver
) -> None:
    """Nothing listening: the attempt says it could not connect."""
    job_id, _ = _setup(receiver, arrange)
    with session_scope() as session:
        session.execute(update(WebhookEndpoint).values(url="http://127.0.0.1:9/hooks"))
    [delivery_id] = _event(job_id)
    deliver(delivery_id, sender_settings)
    _, [attempt], _ = _state(delivery_id)
    assert attempt.error is not None and attempt.error.startswith("could not connect to 127.0.0.1:9")


def test_the_local_runners_loop_delivers_what_the_worker_records(
    sender_settings: Settings, receiver: Receiver, arrange: Any
) -> None:
    """The delivery thread picks up a new event's delivery by itself."""
    job_id, endpoint = _setup(receiver, arrange)
    stop = threading.Event()
    thread = threading.Thread(target=DeliveryLoop(sender_settings, stop).run_forever, daemon=True)
    thread.start()
    try:
        _event(job_id)
        assert receiver.arrived.wait(20), "the loop sent nothing"
    finally:
        stop.set()
        thread.join(10)
    body = Webhook(endpoint.secret).verify(receiver.requests[0].body, receiver.requests[0].headers)
    assert body["type"] == "job.succeeded"


def test_the_celery_task_retries_after_the_backoff(
    sender_settings: Settings, receiver: Receiver, arrange: Any
) -> None:
    """A failed attempt makes the task ask Celery to retry it after the backoff delay."""
    from worker.celery_tasks import deliver_webhook_task

    job_id, _ = _setup(receiver, arrange)
    [delivery_id] = _event(job_id)
    receiver.statuses[:] = [502]
    with mock.patch.object(deliver_webhook_task, "retry", side_effect=Retry()) as retry, pytest.raises(Retry):
        deliver_webhook_task.run(delivery_id)
    retry.assert_called_once_with(countdown=5.0)
    with mock.patch.object(deliver_webhook_task, "retry") as retry:
        _make_due(delivery_id)
        deliver_webhook_task.run(delivery_id)
    retry.assert_not_called()
    assert [a.status_code for a in _state(delivery_id)[1]] == [502, 200] and len(receiver.requests) == 2


def test_under_celery_deliveries_are_published_after_commit_and_swept(
    sender_settings: Settings, receiver: Receiver, arrange: Any
) -> None:
    """The worker publishes a delivery once its event commits, never on rollback; the sweeper re-sends."""
    job_id, _ = _setup(receiver, arrange)
    published: list[str] = []
    with mock.patch(
        "secateur.kernel.queue.send_webhook", side_effect=lambda d, s=None: published.append(d) or True
    ):
        with pytest.raises(RuntimeError), session_scope() as session:
            add_event(session, job_id, "job.failed", "boom")
            raise RuntimeError("rolled back")
        assert published == []
        [delivery_id] = _event(job_id)
        assert published == [delivery_id]
        assert sweep(sender_settings) == 0  # just made: not overdue
        later = utcnow() + timedelta(seconds=sender_settings.webhook_timeout_s + 121)
        assert sweep(sender_settings, now=later) == 1 and published == [delivery_id, delivery_id]
    assert _state(delivery_id)[0].payload["type"] == "job.succeeded"
