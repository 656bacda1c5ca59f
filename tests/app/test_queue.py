"""The broker-only Celery client: fail fast when the broker is down, publish the task when it is up."""

import json
import os
import time
import uuid

import pytest

from secateur.kernel import queue
from secateur.kernel.settings import Settings
from secateur.kernel.vocabulary import GPU_QUEUE, RUN_JOB
from tests.support.services import unavailable


def _settings(**values: object) -> Settings:
    """Settings from explicit values only (no .env)."""
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def test_the_local_queue_sends_nothing() -> None:
    """The local queue publishes nothing and is always reachable."""
    settings = _settings(queue="local")
    assert queue.enqueue("job_x", settings) is False
    assert queue.revoke("job_x", terminate=True, settings=settings) is False
    assert queue.broker_reachable(settings) is True


def test_a_down_broker_fails_fast_without_raising() -> None:
    """A down broker makes enqueue and revoke return False quickly."""
    settings = _settings(queue="celery", broker_url="redis://127.0.0.1:1/0")
    started = time.monotonic()
    assert queue.enqueue("job_x", settings) is False
    assert queue.revoke("job_x", terminate=False, settings=settings) is False
    assert queue.broker_reachable(settings) is False
    assert time.monotonic() - started < 10


@pytest.mark.redis
def test_enqueue_publishes_run_job_to_the_gpu_queue() -> None:
    """Enqueue puts a secateur.run_job message with the job id as task id on the gpu queue."""
    redis = pytest.importorskip("redis")
    url = os.environ.get("SECATEUR_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
    settings = _settings(queue="celery", broker_url=url)
    if not queue.broker_reachable(settings):
        unavailable(f"no Redis at {url} (set SECATEUR_TEST_BROKER_URL)")
    client = redis.Redis.from_url(url)
    job_id = f"job_{uuid.uuid4().hex}"
    try:
        assert queue.enqueue(job_id, settings) is True
        messages = [json.loads(raw) for raw in client.lrange(GPU_QUEUE, 0, -1)]
        mine = [m for m in messages if m["headers"]["id"] == job_id]
        assert len(mine) == 1 and mine[0]["headers"]["task"] == RUN_JOB
    finally:
        for raw in client.lrange(GPU_QUEUE, 0, -1):
            if job_id.encode() in raw:
                client.lrem(GPU_QUEUE, 0, raw)
        client.close()
