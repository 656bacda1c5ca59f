"""Database engine and sessions, shared by the API and the workers."""

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, exc, make_url
from sqlalchemy.orm import Session, sessionmaker

from secateur.kernel.settings import get_settings


def make_engine(url: str, pool_size: int = 10, max_overflow: int = 10, pool_timeout_s: float = 5.0) -> Engine:
    """An engine for `url` with a bounded pool; SQLite gets WAL and a busy timeout so the API and the
    runner can share it. Past `pool_timeout_s` without a free connection, sqlalchemy raises TimeoutError
    (the API answers 503)."""
    pool = {"pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout_s}
    if url.startswith("sqlite"):
        _create_private(make_url(url).database)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    engine = create_engine(url, **pool)
    _ping_when_idle(engine)
    return engine


# A connection back in use within this many seconds is trusted as it is; one idle for longer is
# pinged first, as pool_pre_ping would on every checkout (a round trip each: a fifth of a polled
# GET's CPU on PostgreSQL). A server restart takes longer than this, so every connection it broke
# has been idle long enough to be pinged and replaced.
PING_AFTER_IDLE_S = 1.0


def _ping_when_idle(engine: Engine) -> None:
    """Pre-ping a pooled connection on checkout only when it has been idle for PING_AFTER_IDLE_S."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < PING_AFTER_IDLE_S:
            return  # new (just connected), or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as err:
            if engine.dialect.is_disconnect(err, dbapi_connection, None):
                # As pool_pre_ping does: every connection older than this one is suspect; the pool
                # retries this checkout on a new connection.
                raise exc.InvalidatePoolError() from err
            raise


def _create_private(database: str | None) -> None:
    """Create a new SQLite file owner-only (0600); SQLite gives its -wal and -shm files the same mode."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database)
    if path.exists() or not path.parent.is_dir():
        return  # an existing file keeps its mode; a missing folder is SQLite's error to report
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


@lru_cache
def get_engine() -> Engine:
    """The process-wide engine for the configured database."""
    settings = get_settings()
    if settings.sqlalchemy_url.startswith("sqlite"):
        settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return make_engine(
        settings.sqlalchemy_url, settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout_s
    )


@lru_cache
def get_sessionmaker() -> sessionmaker[Session]:
    """A session factory bound to the process-wide engine."""
    return sessionmaker(get_engine(), expire_on_commit=False)


@contextmanager
def session_scope() -> Iterator[Session]:
    """A session that commits on success and rolls back on error (for workers and scripts)."""
    with get_sessionmaker()() as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
