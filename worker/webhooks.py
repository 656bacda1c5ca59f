"""Where webhooks are sent from: the local runner's delivery loop, and the sweeper for Celery."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from secateur.kernel import queue
from secateur.kernel.db import session_scope
from secateur.kernel.models import utcnow
from secateur.kernel.settings import Settings
from secateur.kernel.webhooks import repository
from secateur.kernel.webhooks.delivery import deliver
from worker.outage import database_unreachable

log = logging.getLogger(__name__)

BATCH = 50
# A slow endpoint (up to the timeout) must not hold up every other endpoint's deliveries.
PARALLEL = 4


def run_due(settings: Settings, now: datetime | None = None) -> int:
    """Attempt every delivery that is due now; how many were found."""
    with session_scope() as session:
        ids = repository.due(session, now or utcnow(), BATCH)
    if ids:
        with ThreadPoolExecutor(max_workers=PARALLEL, thread_name_prefix="webhook") as pool:
            list(pool.map(lambda delivery_id: deliver(delivery_id, settings), ids))
    return len(ids)


def sweep(settings: Settings, now: datetime | None = None) -> int:
    """Re-send to Celery the deliveries overdue by more than an attempt's lease: their message was lost.

    Also covers deliveries made while the broker was down. A copy that arrives twice is harmless:
    `deliver` claims each attempt with a compare-and-set.
    """
    grace = timedelta(seconds=settings.webhook_timeout_s + 120)
    with session_scope() as session:
        ids = repository.due(session, (now or utcnow()) - grace, 500)
    sent = sum(queue.send_webhook(delivery_id, settings) for delivery_id in ids)
    if ids:
        log.info("webhook sweep: %d overdue deliveries, %d re-sent", len(ids), sent)
    return sent


class DeliveryLoop:
    """The local runner's delivery thread: sends what is due, then waits `webhook_poll_s`; never raises."""

    def __init__(self, settings: Settings, stop: threading.Event) -> None:
        self.settings, self._stop = settings, stop

    def run_forever(self) -> None:
        """Poll until the runner stops."""
        while not self._stop.is_set():
            try:
                found = run_due(self.settings)
            except Exception as exc:
                # A database hiccup must not end webhook delivery for the rest of the session.
                if database_unreachable(exc):
                    log.warning("webhook delivery pass: the database could not be reached; retrying")
                else:
                    log.exception("webhook delivery pass failed")
                found = 0
            if found < BATCH:
                self._stop.wait(self.settings.webhook_poll_s)
