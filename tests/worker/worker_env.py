"""Constants and process-wide state helpers shared by the worker tests and their fixtures."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from secateur.kernel import db, storage
from secateur.kernel.settings import get_settings

API_KEY = "sk-sec-worker-tests-0123456789"
POSTGRES_ADMIN_URL = os.environ.get(
    "SECATEUR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
# Offline: nothing in these tests may reach a model hub.
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def unavailable(reason: str) -> None:
    """Skip a test whose server is missing, or fail when CI says the servers must be there."""
    if os.environ.get("SECATEUR_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (SECATEUR_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@contextmanager
def empty_postgres_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty `<prefix>_<random>` database, dropped afterwards; skips without a server."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        unavailable(f"PostgreSQL is unreachable at {POSTGRES_ADMIN_URL} ({type(exc).__name__})")
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def reset_caches() -> None:
    """Forget the process-wide settings, engine, sessions and storage so new env vars take effect."""
    if db.get_engine.cache_info().currsize:
        db.get_engine().dispose()
    for cached in (get_settings, db.get_engine, db.get_sessionmaker, storage.get_storage):
        cached.cache_clear()
