"""Fixtures for the webhook tests: a loopback receiver, and a process-wide database for the senders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from app.keys.service import create_key
from app.webhooks.service import new_secret
from secateur.kernel import db
from secateur.kernel.migrate import upgrade_to_head
from secateur.kernel.models import Job
from secateur.kernel.settings import Settings, get_settings
from secateur.kernel.webhooks.models import WebhookEndpoint
from tests.support.webhook_receiver import Receiver, start_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A live HTTP server on 127.0.0.1 that records webhooks."""
    receiver, server = start_receiver()
    yield receiver
    server.shutdown()
    server.server_close()


def _reset() -> None:
    """Forget the process-wide settings, engine and sessions so new env vars take effect."""
    if db.get_engine.cache_info().currsize:
        db.get_engine().dispose()
    for cached in (get_settings, db.get_engine, db.get_sessionmaker):
        cached.cache_clear()


@pytest.fixture
def sender_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """Point the process-wide database (what the senders use) at a fresh migrated SQLite file."""
    url = f"sqlite:///{tmp_path / 'webhooks.db'}"
    upgrade_to_head(url)
    monkeypatch.setenv("SECATEUR_DATABASE_URL", url)
    monkeypatch.setenv("SECATEUR_QUEUE", "local")
    monkeypatch.setenv("SECATEUR_WEBHOOK_ALLOW_PRIVATE", "true")  # what the Celery task reads
    _reset()
    yield Settings(
        _env_file=None,
        database_url=url,
        data_dir=tmp_path,
        webhook_allow_private=True,
        webhook_timeout_s=5.0,
        webhook_max_attempts=4,
        webhook_retry_base_s=5.0,
        webhook_disable_after=3,
        webhook_poll_s=0.05,
    )
    _reset()


@pytest.fixture
def arrange() -> Any:
    """Insert a key, a running job of it and an endpoint of it into a session; (job, endpoint)."""

    def _arrange(session: Session, url: str, events: list[str] | None = None) -> tuple[Job, WebhookEndpoint]:
        key, _secret = create_key(session, "hooks")
        session.flush()
        job = Job(
            owner_id=key.id,
            status="running",
            model="prajjwal1/bert-tiny",
            task={"name": "sst2"},
            strategy="aglp",
            retention=0.9,
            hyperparameters={},
            metadata_={},
        )
        endpoint = WebhookEndpoint(
            owner_id=key.id,
            url=url,
            events=events or ["job.succeeded", "round.finished", "job.failed"],
            secret=new_secret(),
        )
        session.add_all([job, endpoint])
        session.commit()
        return job, endpoint

    return _arrange
