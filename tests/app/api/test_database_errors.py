"""An exhausted pool or a database that is down answers 503 with Retry-After, never 500."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import sessionmaker

from app.api.deps import get_session_factory
from app.files import service
from app.keys.service import create_key
from secateur.kernel.db import make_engine
from secateur.kernel.migrate import upgrade_to_head
from tests.support.tiny_safetensors import model_files


@pytest.fixture
def one_connection(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite database behind a pool of exactly one connection."""
    url = f"sqlite:///{tmp_path / 'pool.db'}"
    upgrade_to_head(url)
    engine = make_engine(url, pool_size=1, max_overflow=0, pool_timeout_s=0.2)
    yield engine
    engine.dispose()


@pytest.fixture
def pooled(app: FastAPI, one_connection: Engine) -> tuple[TestClient, dict[str, str]]:
    """A client on that database and the headers of a key in it."""
    factory = sessionmaker(one_connection, expire_on_commit=False)
    with factory() as session:
        _, secret = create_key(session, "pool")
        session.commit()
    app.dependency_overrides[get_session_factory] = lambda: factory
    return TestClient(app, raise_server_exceptions=False), {"Authorization": f"Bearer {secret}"}


def test_an_exhausted_pool_is_503_with_retry_after(
    pooled: tuple[TestClient, dict[str, str]], one_connection: Engine
) -> None:
    """With every connection taken, a request waits pool_timeout and is told to retry."""
    client, headers = pooled
    with one_connection.connect():
        response = client.get("/v1/files", headers=headers)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "urn:secateur:problem:database-busy"
    assert int(response.headers["Retry-After"]) >= 1
    assert client.get("/v1/files", headers=headers).status_code == 200


def test_an_upload_holds_no_connection_while_it_is_checked(
    pooled: tuple[TestClient, dict[str, str]],
    one_connection: Engine,
    tar_gz: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """During the (slow) archive check the request's only connection is free for others."""
    client, headers = pooled
    original = service.check_upload
    seen: list[int] = []

    def check_while_taking_the_pool(*args: Any) -> Any:
        with one_connection.connect() as connection:  # times out if the request still held it
            seen.append(connection.execute(text("SELECT 1")).scalar_one())
        return original(*args)

    monkeypatch.setattr(service, "check_upload", check_while_taking_the_pool)
    files = {"file": ("m.tar.gz", tar_gz([(f"m/{n}", p) for n, p in model_files()]), "application/gzip")}
    response = client.post("/v1/files", headers=headers, files=files, data={"purpose": "model"})
    assert response.status_code == 201, response.text
    assert seen == [1]


def test_a_database_that_is_down_is_503(app: FastAPI, tmp_path: Path, caller: Any) -> None:
    """OperationalError (cannot connect) is a 503 database-unavailable."""
    engine = make_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    app.dependency_overrides[get_session_factory] = lambda: sessionmaker(engine)
    response = TestClient(app, raise_server_exceptions=False).get("/v1/files", headers=caller.headers)
    assert response.status_code == 503, response.text
    assert response.json()["type"] == "urn:secateur:problem:database-unavailable"
    assert "Retry-After" in response.headers
    engine.dispose()
