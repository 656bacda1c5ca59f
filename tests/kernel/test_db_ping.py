"""Pooled PostgreSQL connections are pinged on checkout only after sitting idle, and replaced if dead."""

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine

from secateur.kernel import db
from tests.support.services import empty_postgres_database


@pytest.fixture
def engine() -> Iterator[Engine]:
    """A PostgreSQL engine with a pool of one connection."""
    with empty_postgres_database("secateur_test") as url:
        engine = db.make_engine(url, pool_size=1, max_overflow=0)
        yield engine
        engine.dispose()


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ping the pool sends."""
    sent: list[Any] = []
    ping = engine.dialect.do_ping

    def counting(dbapi_connection: Any) -> bool:
        sent.append(dbapi_connection)
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting)
    return sent


def _backend_pid(engine: Engine) -> int:
    """The server process behind the pool's connection, read through a checkout."""
    with engine.connect() as conn:
        return int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())


def test_a_connection_in_use_a_moment_ago_is_not_pinged(engine: Engine, pings: list[Any]) -> None:
    """Under steady traffic no checkout pays a round trip for a ping."""
    first = _backend_pid(engine)
    assert [_backend_pid(engine) for _ in range(5)] == [first] * 5
    assert pings == []


def test_an_idle_connection_killed_by_the_server_is_replaced_on_checkout(
    engine: Engine, pings: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As with pool_pre_ping: the dead connection is found by the ping and the checkout gets a new one."""
    dead = _backend_pid(engine)
    admin = create_engine(engine.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        assert conn.exec_driver_sql(f"SELECT pg_terminate_backend({dead})").scalar_one()
    admin.dispose()
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)  # "idle long enough", without sleeping
    replacement = _backend_pid(engine)
    assert replacement != dead and len(pings) == 1
