"""Hand jobs to the workers: a broker-only Celery client, or nothing at all for the local runner."""

import logging
from functools import lru_cache

from celery import Celery

from secateur.kernel.settings import Settings, get_settings
from secateur.kernel.vocabulary import DELIVER_WEBHOOK, GPU_QUEUE, RUN_JOB, WEBHOOK_QUEUE

logger = logging.getLogger("secateur.queue")


@lru_cache
def _client(broker_url: str) -> Celery:
    """A Celery app that only publishes; it never imports the worker's code (or torch)."""
    client = Celery("secateur-api", broker=broker_url)
    client.conf.update(
        # Fail fast when the broker is down: the job stays queued and the reconciler re-sends it.
        broker_connection_retry=False,
        broker_connection_max_retries=0,
        task_publish_retry=False,
        broker_transport_options={"socket_connect_timeout": 2, "socket_timeout": 2, "max_retries": 0},
    )
    return client


def enqueue(job_id: str, settings: Settings | None = None) -> bool:
    """Publish `job_id` to the workers; True when a broker accepted it, False otherwise (never raises)."""
    settings = settings or get_settings()
    if settings.queue == "local":
        return False  # the local runner claims queued rows straight from the database
    try:
        _client(settings.broker_url).send_task(RUN_JOB, args=[job_id], task_id=job_id, queue=GPU_QUEUE)
    except Exception:
        logger.warning("could not enqueue %s; it stays queued for the reconciler", job_id, exc_info=True)
        return False
    return True


def revoke(job_id: str, terminate: bool, settings: Settings | None = None) -> bool:
    """Ask the workers to drop (or, with `terminate`, kill) `job_id`; True when the broker took it."""
    settings = settings or get_settings()
    if settings.queue == "local":
        return False  # the local runner polls the job row instead
    try:
        _client(settings.broker_url).control.revoke(job_id, terminate=terminate)
    except Exception:
        logger.warning("could not revoke %s; the worker will see the database state", job_id, exc_info=True)
        return False
    return True


def broker_reachable(settings: Settings, timeout_s: float = 2.0) -> bool:
    """Whether the Redis broker answers a ping (always True for the local queue)."""
    if settings.queue == "local":
        return True
    import redis  # only needed with the celery queue

    try:
        client = redis.Redis.from_url(
            settings.broker_url, socket_connect_timeout=timeout_s, socket_timeout=timeout_s
        )
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        logger.warning("broker ping failed", exc_info=True)
        return False


def send_webhook(delivery_id: str, settings: Settings | None = None) -> bool:
    """Publish one webhook delivery to the workers; False for the local queue or a broker that is down.

    Nothing is lost when this fails: the delivery row is pending, and the sweeper re-sends it.
    """
    settings = settings or get_settings()
    if settings.queue == "local":
        return False  # the local runner's delivery loop reads due rows from the database
    try:
        _client(settings.broker_url).send_task(DELIVER_WEBHOOK, args=[delivery_id], queue=WEBHOOK_QUEUE)
    except Exception:
        logger.warning("could not send webhook delivery %s; the sweeper will", delivery_id, exc_info=True)
        return False
    return True
