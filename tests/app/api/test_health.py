"""Liveness and readiness probes."""

import os

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from app.api.deps import get_session_factory
from secateur.kernel.queue import broker_reachable
from secateur.kernel.settings import Settings
from tests.support.services import unavailable


def test_healthz(client: TestClient) -> None:
    """Liveness answers ok without auth."""
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_with_the_local_queue(client: TestClient) -> None:
    """Readiness checks the database; the local queue needs no broker."""
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_readyz_is_503_when_the_broker_is_down(client: TestClient, settings: Settings) -> None:
    """With Celery and no Redis, readiness is a 503 problem naming the broker."""
    settings.queue = "celery"
    settings.broker_url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "broker" in response.json()["detail"]


@pytest.mark.redis
def test_readyz_with_a_live_broker(client: TestClient, settings: Settings) -> None:
    """With Celery and a reachable Redis, readiness is ok."""
    url = os.environ.get("SECATEUR_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")
    settings.queue, settings.broker_url = "celery", url
    if not broker_reachable(settings):
        unavailable(f"no Redis at {url} (set SECATEUR_TEST_BROKER_URL)")
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_database_is_down(app: FastAPI, client: TestClient) -> None:
    """An unreachable database makes readiness a 503 problem, without leaking the driver's error."""
    nowhere = "postgresql+psycopg://postgres@127.0.0.1:1/none"  # nothing listens on port 1
    dead = create_engine(nowhere, connect_args={"connect_timeout": 2})
    app.dependency_overrides[get_session_factory] = lambda: sessionmaker(dead)
    response = client.get("/readyz")
    assert response.status_code == 503 and response.json()["detail"] == "The database is unreachable."
    assert client.get("/healthz").status_code == 200
    dead.dispose()
