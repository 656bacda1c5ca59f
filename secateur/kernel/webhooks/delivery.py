"""Send one webhook delivery: sign it (Standard Webhooks), POST it, record the attempt, retry or give up.

Celery-free and torch-free: the Celery task and the local runner's delivery loop both call `deliver`.
"""

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.orm import Session
from standardwebhooks import Webhook

from secateur.kernel import lifecycle
from secateur.kernel.db import session_scope
from secateur.kernel.models import utcnow
from secateur.kernel.settings import Settings
from secateur.kernel.webhooks import repository
from secateur.kernel.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from secateur.kernel.webhooks.urls import UnsafeUrl, check_url

log = logging.getLogger(__name__)

USER_AGENT = "Secateur-Webhooks/1"
_BODY_EXCERPT = 200


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: the endpoint's status code, or why there was none."""

    status_code: int | None
    error: str | None
    duration_ms: float

    @property
    def ok(self) -> bool:
        """Any 2xx is a success."""
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay_s(attempt: int, settings: Settings) -> float:
    """Exponential backoff: the base after the first failed attempt, doubling each time, capped."""
    return float(min(settings.webhook_retry_max_s, settings.webhook_retry_base_s * 2 ** (attempt - 1)))


def signed_headers(delivery_id: str, secret: str, body: str, now: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers; the id stays the same on every retry so receivers dedupe."""
    return {
        "webhook-id": delivery_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(delivery_id, now, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }


def post(url: str, body: str, headers: dict[str, str], settings: Settings) -> Outcome:
    """POST to the URL's host at the address the SSRF guard checked just now, not at a fresh lookup.

    Pinning the address closes the gap between our check and the connection (DNS rebinding); the
    original host still goes in the Host header and in TLS (SNI and the certificate check).
    """
    started = time.perf_counter()

    def done(status_code: int | None, error: str | None) -> Outcome:
        return Outcome(status_code, error, round((time.perf_counter() - started) * 1000, 1))

    try:
        target = check_url(url, settings.webhook_allow_private)
    except UnsafeUrl as exc:
        return done(None, f"not sent: {exc}")
    pinned = httpx.URL(target.url).copy_with(host=str(target.addresses[0]))
    request_headers = {**headers, "host": httpx.URL(target.url).netloc.decode("ascii")}
    try:
        with httpx.Client(timeout=settings.webhook_timeout_s, follow_redirects=False) as client:
            response = client.post(
                pinned,
                content=body.encode(),
                headers=request_headers,
                extensions={"sni_hostname": target.host},
            )
    except httpx.TimeoutException:
        return done(None, f"timed out after {settings.webhook_timeout_s:g} s")
    except httpx.ConnectError as exc:
        return done(None, f"could not connect to {target.host}:{target.port} ({exc or 'connection failed'})")
    except httpx.HTTPError as exc:
        return done(None, f"{type(exc).__name__}: {exc}")
    if 200 <= response.status_code < 300:
        return done(response.status_code, None)
    excerpt = response.text[:_BODY_EXCERPT].strip()
    return done(response.status_code, f"HTTP {response.status_code}" + (f": {excerpt}" if excerpt else ""))


def deliver(delivery_id: str, settings: Settings) -> float | None:
    """Make the next attempt of a due delivery; seconds until the next one if it failed and may retry.

    None means nothing more to do: sent, given up, or not due (another copy of the task has it).
    No transaction is open during the HTTP request.
    """
    with session_scope() as session:
        if not repository.claim_attempt(session, delivery_id, utcnow(), settings.webhook_timeout_s + 60):
            return None
        delivery, endpoint = repository.load_for_attempt(session, delivery_id)
        session.expunge_all()
    if not endpoint.enabled:
        outcome = Outcome(None, f"not sent: the endpoint is disabled ({endpoint.disabled_reason})", 0.0)
    else:
        body = json.dumps(delivery.payload, separators=(",", ":"))
        outcome = post(
            endpoint.url, body, signed_headers(delivery.id, endpoint.secret, body, utcnow()), settings
        )
    return _record(delivery, endpoint, outcome, settings)


def _record(
    delivery: WebhookDelivery, endpoint: WebhookEndpoint, outcome: Outcome, settings: Settings
) -> float | None:
    """Store the attempt, then mark the delivery done or schedule its retry; disable a failing endpoint."""
    now = utcnow()
    attempt = delivery.attempts
    with session_scope() as session:
        repository.add_attempt(
            session,
            delivery.id,
            attempt=attempt,
            status_code=outcome.status_code,
            error=outcome.error,
            ms=outcome.duration_ms,
        )
        if outcome.ok:
            repository.finish_delivery(session, delivery.id, DeliveryStatus.SUCCEEDED, now)
            repository.reset_failures(session, endpoint.id)
            return None
        if not endpoint.enabled:
            repository.finish_delivery(session, delivery.id, DeliveryStatus.FAILED, now)
            return None
        log.info("webhook %s to %s: attempt %d failed: %s", delivery.id, endpoint.id, attempt, outcome.error)
        failures = repository.count_failure(session, endpoint.id)
        if failures >= settings.webhook_disable_after:
            _disable(session, delivery, endpoint=endpoint, failures=failures, now=now)
        if attempt >= settings.webhook_max_attempts or failures >= settings.webhook_disable_after:
            repository.finish_delivery(session, delivery.id, DeliveryStatus.FAILED, now)
            return None
        wait = retry_delay_s(attempt, settings)
        repository.schedule_retry(session, delivery.id, now + timedelta(seconds=wait))
        return wait


def _disable(
    session: Session, delivery: WebhookDelivery, *, endpoint: WebhookEndpoint, failures: int, now: datetime
) -> None:
    """Disable the endpoint and say so in the log of the job whose delivery tipped it over."""
    reason = f"{failures} failed attempts in a row; the last: {delivery.id}"
    if repository.disable(session, endpoint.id, reason, now):
        log.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)
        lifecycle.add_event(
            session,
            delivery.job_id,
            "webhook.endpoint_disabled",
            f"webhook endpoint {endpoint.id} disabled after {failures} failed attempts in a row",
            endpoint_id=endpoint.id,
            url=endpoint.url,
            failures=failures,
        )
