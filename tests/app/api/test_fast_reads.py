"""The polled reads: one thread switch each, a key cache that never outlives revocation, Core rows."""

from collections.abc import Callable
from typing import Any

import anyio.to_thread
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlalchemy.orm import Session, sessionmaker

from app.api import deps
from app.keys.service import create_key
from secateur.kernel.db import make_engine
from secateur.kernel.jobs import repository
from secateur.kernel.jobs.serializers import job_out
from secateur.kernel.migrate import upgrade_to_head
from secateur.kernel.models import ApiKey, utcnow

MakeJob = Callable[..., Any]


@pytest.fixture
def thread_switches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of every callable the app hands to the threadpool, in order."""
    calls: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counting(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(func, "__qualname__", repr(func)))
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    return calls


def test_a_polled_get_is_one_thread_switch(
    client: TestClient, caller: Any, make_job: MakeJob, thread_switches: list[str]
) -> None:
    """Once the key is cached, GET /v1/jobs/{id} and GET /v1/jobs each cost one thread switch."""
    job = make_job(caller.id)
    assert client.get(f"/v1/jobs/{job.id}", headers=caller.headers).status_code == 200
    thread_switches.clear()
    assert client.get(f"/v1/jobs/{job.id}", headers=caller.headers).json()["id"] == job.id
    assert client.get("/v1/jobs", headers=caller.headers).json()["data"][0]["id"] == job.id
    assert len(thread_switches) == 2, thread_switches


def test_a_cached_key_revoked_or_deleted_is_refused_on_its_next_request(
    app: FastAPI, client: TestClient, caller: Any, other_caller: Any, make_job: MakeJob, db_session: Session
) -> None:
    """The cache spares the lookup, never the revocation check: 401 at once, same problem as before."""
    job = make_job(caller.id)
    assert client.get(f"/v1/jobs/{job.id}", headers=caller.headers).status_code == 200
    db_session.get_one(ApiKey, caller.id).revoked_at = utcnow()
    db_session.commit()
    for path in (f"/v1/jobs/{job.id}", "/v1/jobs", f"/v1/jobs/{job.id}/rounds"):
        refused = client.get(path, headers=caller.headers)
        assert refused.status_code == 401, path
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["WWW-Authenticate"] == "Bearer"
        assert refused.json()["detail"] == "The API key is invalid or has been revoked."
    assert client.get("/v1/jobs", headers=other_caller.headers).status_code == 200
    db_session.execute(delete(ApiKey).where(ApiKey.id == other_caller.id))
    db_session.commit()
    assert client.get("/v1/jobs", headers=other_caller.headers).status_code == 401


def test_the_view_row_gives_the_same_job_object_as_the_orm_row(
    caller: Any, make_job: MakeJob, db_session: Session
) -> None:
    """Every field job_out reads is among the Core view's columns, with the same values."""
    result = {
        "layers_removed": 1, "removed_layers": [1], "kept_layers": [0], "score": 0.9, "report_score": 0.9,
        "retained_fraction": 0.95, "parameters_before": 10, "parameters_after": 5,
        "artifact": {"bytes": 3, "sha256": "ab"},
    }  # fmt: skip
    job = make_job(
        caller.id,
        status="succeeded",
        result=result,
        artifact_bytes=7,
        artifact_sha256="cd",
        error_code="x",
        error_message="y",
        warnings=[{"code": "w", "message": "m"}],
        protected_layers=[0],
        target_layers=1,
        metadata_={"k": "v"},
        started_at=utcnow(),
        finished_at=utcnow(),
        round=2,
        layers_total=4,
        layers_remaining=2,
        baseline_score=0.9,
        current_score=0.8,
        retained_fraction=0.9,
    )
    row = repository.view_owned(db_session, caller.id, job.id)
    assert row is not None
    assert job_out(row) == job_out(db_session.get_one(type(job), job.id))
    assert job_out(row).result is not None and job_out(row).metadata == {"k": "v"}


def test_the_key_cache_starts_over_when_full() -> None:
    """A bounded cache: past its size it forgets everything rather than grow."""
    cache = deps.KeyCache(size=2)
    keys = [ApiKey(id=f"key_{i}") for i in range(3)]
    for i, key in enumerate(keys):
        cache.put(str(i), key)
    assert cache.get("0") is None and cache.get("2") is keys[2]


def test_closing_a_session_needs_no_free_thread(db_session: Session, caller: Any) -> None:
    """With every threadpool thread taken (requests waiting for a connection), get_session still closes.

    Its close returns the connection those requests wait for: queued behind them it would never run.
    """
    factory = db_session.get_bind()  # any bind will do: the session below opens a transaction on it

    async def scenario() -> bool:
        limiter = anyio.to_thread.current_default_thread_limiter()
        borrowers = [object() for _ in range(int(limiter.total_tokens))]
        for borrower in borrowers:
            await limiter.acquire_on_behalf_of(borrower)
        try:
            sessions = deps.get_session(lambda: Session(factory))  # type: ignore[arg-type]
            session = await anext(sessions)
            session.get(ApiKey, caller.id)
            assert session.in_transaction()
            with anyio.fail_after(5):
                await sessions.aclose()
            return not session.in_transaction()
        finally:
            for borrower in borrowers:
                limiter.release_on_behalf_of(borrower)

    assert anyio.run(scenario)


def test_reads_on_a_real_engine_leave_no_autocommit_connection_behind(
    app: FastAPI, empty_database_url: str
) -> None:
    """Reads run without a transaction on an engine; the pooled connection gets its isolation back."""
    upgrade_to_head(empty_database_url)
    engine = make_engine(empty_database_url, pool_size=1, max_overflow=0)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session:
        _key, secret = create_key(session, "carol")
        session.commit()
    app.dependency_overrides[deps.get_session_factory] = lambda: factory
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(app) as client:
        created = client.post(
            "/v1/jobs", json={"model": "m", "task": {"name": "rte"}, "retention": 0.9}, headers=headers
        )
        assert created.status_code == 201, created.text
        for _ in range(2):  # the second read takes the cached key's path
            assert client.get(f"/v1/jobs/{created.json()['id']}", headers=headers).status_code == 200
            assert client.get("/v1/jobs", headers=headers).json()["data"][0]["id"] == created.json()["id"]
    with engine.connect() as conn:  # the pool's one connection, as the reads left it
        assert conn.get_isolation_level() != "AUTOCOMMIT"
    engine.dispose()
