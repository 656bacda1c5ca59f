"""Bursts of requests on a small connection pool and a small threadpool: every request is answered."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import anyio
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from app.api.deps import get_session_factory
from app.keys.service import create_key
from secateur.kernel.migrate import upgrade_to_head

JOB = {"model": "prajjwal1/bert-tiny", "task": {"name": "rte"}, "retention": 0.9}


@pytest.fixture
def small_pool(tmp_path: Path) -> Iterator[Engine]:
    """A migrated SQLite file behind a pool of one connection that gives up after two seconds."""
    url = f"sqlite:///{tmp_path / 'burst.db'}"
    upgrade_to_head(url)
    engine = create_engine(url, pool_size=1, max_overflow=0, pool_timeout=2)
    yield engine
    engine.dispose()


async def _burst(app: FastAPI, headers: dict[str, str], n: int, threads: int) -> list[int]:
    """`n` concurrent GET /v1/jobs while the threadpool has only `threads` threads."""
    anyio.to_thread.current_default_thread_limiter().total_tokens = threads
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=headers) as client:
        created = await client.post("/v1/jobs", json=JOB)
        assert created.status_code == 201, created.text
        responses = await asyncio.gather(*(client.get("/v1/jobs") for _ in range(n)))
    return [r.status_code for r in responses]


def test_a_burst_larger_than_the_pool_and_the_threadpool_is_served(app: FastAPI, small_pool: Engine) -> None:
    """No request holds a connection while it waits for a thread, so a burst cannot deadlock.

    With one connection and two threads, a request that kept its connection between the key
    lookup and the endpoint would wait for a thread that two others hold while they wait for
    that very connection: they time out and answer 500.
    """
    with Session(small_pool) as session:
        _, secret = create_key(session, "burst")
        session.commit()
    app.dependency_overrides[get_session_factory] = lambda: sessionmaker(small_pool, expire_on_commit=False)
    statuses = asyncio.run(_burst(app, {"Authorization": f"Bearer {secret}"}, n=12, threads=2))
    assert statuses == [200] * 12
