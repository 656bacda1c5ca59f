"""Shared fixtures: a migrated SQLite and PostgreSQL database per run, rolled-back sessions, an API client."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session, sessionmaker

from app.api.deps import get_session_factory, get_store
from app.keys.service import create_key
from secateur.kernel.db import make_engine
from secateur.kernel.migrate import upgrade_to_head
from secateur.kernel.settings import Settings, get_settings
from secateur.kernel.storage import LocalStorage, Storage
from tests.support.declared_problems import DeclaredProblems
from tests.support.services import empty_postgres_database


def _sqlite_savepoints(engine: Engine) -> None:
    """pysqlite mishandles SAVEPOINT unless SQLAlchemy emits BEGIN itself (SQLAlchemy's documented recipe)."""

    @event.listens_for(engine, "connect")
    def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
        """Stop pysqlite from opening transactions on its own."""
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _explicit_begin(connection: Connection) -> None:
        """Open the transaction ourselves so SAVEPOINTs nest correctly."""
        connection.exec_driver_sql("BEGIN")


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def db_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """An engine on a database migrated to head, once per run for each backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        upgrade_to_head(url)
        engine = make_engine(url)
        _sqlite_savepoints(engine)
        yield engine
        engine.dispose()
        return
    with empty_postgres_database("secateur_test") as url:
        upgrade_to_head(url)
        engine = make_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a brand-new empty database (for migration tests), dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with empty_postgres_database("secateur_test") as url:
        yield url


@pytest.fixture
def db_connection(db_engine: Engine) -> Iterator[Connection]:
    """A connection inside an outer transaction that is rolled back after the test."""
    with db_engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


@pytest.fixture
def session_factory(db_connection: Connection) -> sessionmaker[Session]:
    """Sessions whose commits only release savepoints of the test's outer transaction."""
    return sessionmaker(bind=db_connection, join_transaction_mode="create_savepoint", expire_on_commit=False)


@pytest.fixture
def db_session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session for arranging and inspecting rows in a test."""
    with session_factory() as session:
        yield session


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for one test: local queue and storage under tmp_path, small upload limits."""
    return Settings(
        _env_file=None,
        data_dir=tmp_path / "data",
        queue="local",
        max_model_upload_bytes=2 * 1024 * 1024,
        max_dataset_upload_bytes=256 * 1024,
        max_unpacked_bytes=4 * 1024 * 1024,
    )


@pytest.fixture
def storage(tmp_path: Path) -> Storage:
    """Local blob storage under tmp_path."""
    return LocalStorage(tmp_path / "blobs")


@pytest.fixture
def app(settings: Settings, session_factory: sessionmaker[Session], storage: Storage) -> FastAPI:
    """The application with settings, sessions and storage overridden for the test."""
    from app.main import create_app

    application = create_app()
    application.dependency_overrides[get_settings] = lambda: settings
    application.dependency_overrides[get_session_factory] = lambda: session_factory
    application.dependency_overrides[get_store] = lambda: storage
    return application


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    """A client that returns 500s instead of raising, and fails on a problem its route does not declare."""
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.event_hooks = {"request": [], "response": [DeclaredProblems(app)]}
        yield test_client


@dataclass(frozen=True)
class Caller:
    """An API key for a test: its row id and the headers that authenticate with it."""

    id: str
    headers: dict[str, str]


def _new_caller(db_session: Session, name: str) -> Caller:
    """Create a key and return it with its auth headers."""
    row, secret = create_key(db_session, name)
    db_session.commit()
    return Caller(row.id, {"Authorization": f"Bearer {secret}"})


@pytest.fixture
def caller(db_session: Session) -> Caller:
    """A fresh API key."""
    return _new_caller(db_session, "alice")


@pytest.fixture
def other_caller(db_session: Session) -> Caller:
    """A second, unrelated API key."""
    return _new_caller(db_session, "bob")
