"""The servers the tests need: a fresh PostgreSQL database, and skip-or-fail when one is missing."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_ADMIN_URL = os.environ.get(
    "SECATEUR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def unavailable(reason: str) -> NoReturn:
    """Skip a test whose server is missing, or fail when CI says the servers must be there."""
    if os.environ.get("SECATEUR_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{reason} (SECATEUR_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


@contextmanager
def empty_postgres_database(prefix: str) -> Iterator[str]:
    """The URL of a new, empty `<prefix>_<random>` database, dropped afterwards; needs the server."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        admin.dispose()
        unavailable(f"PostgreSQL is unreachable at {POSTGRES_ADMIN_URL} ({type(exc).__name__}: {exc})")
    try:
        yield make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
