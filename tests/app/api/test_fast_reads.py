"""The polled reads: one thread switch each, a key cache that never outlives revocation, Core rows."""

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import anyio.to_thread
import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, delete, event
from sqlalchemy.orm import Session, sessionmaker

from app.api import deps
from app.jobs import service
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
    """Reads run without a transaction on an engine, see a revocation at once, and leave the pooled
    connection's isolation as they found it."""
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
        with factory() as session:  # revoked while cached: the engine's reads check it too
            session.get_one(ApiKey, _key.id).revoked_at = utcnow()
            session.commit()
        for path in (f"/v1/jobs/{created.json()['id']}", "/v1/jobs", "/v1/jobs/job_unknown"):
            assert client.get(path, headers=headers).status_code == 401, path
    with engine.connect() as conn:  # the pool's one connection, as the reads left it
        assert conn.get_isolation_level() != "AUTOCOMMIT"
    engine.dispose()


@pytest.fixture
def selects(db_connection: Connection) -> Iterator[list[str]]:
    """Every SELECT the database runs (savepoints left out), in order."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    event.listen(db_connection.engine, "before_cursor_execute", record)
    yield statements
    event.remove(db_connection.engine, "before_cursor_execute", record)


def test_a_polled_read_is_one_statement_with_the_key_check_in_it(
    client: TestClient, caller: Any, make_job: MakeJob, selects: list[str]
) -> None:
    """With the key cached, a GET of a job or a page runs one SELECT, which reads the key's state too."""
    job = make_job(caller.id)
    assert client.get(f"/v1/jobs/{job.id}", headers=caller.headers).status_code == 200
    for path in (f"/v1/jobs/{job.id}", "/v1/jobs"):
        selects.clear()
        assert client.get(path, headers=caller.headers).status_code == 200
        assert len(selects) == 1 and "api_keys" in selects[0] and "revoked_at IS NULL" in selects[0], path


def test_a_revoked_key_gets_401_not_404_or_an_empty_page(
    client: TestClient, caller: Any, other_caller: Any, make_job: MakeJob, db_session: Session
) -> None:
    """When the statement finds no job it says nothing of the key: the key is asked, and wins over 404/422."""
    job = make_job(caller.id)
    live = {
        "/v1/jobs/job_unknown": 404,
        "/v1/jobs?after=job_unknown": 422,
        f"/v1/jobs?after={job.id}": 200,  # the last page: empty
    }
    for path, code in live.items():
        assert client.get(path, headers=caller.headers).status_code == code, path
    empty = client.get("/v1/jobs", headers=other_caller.headers)
    assert empty.json() == {"object": "list", "data": [], "has_more": False}
    for key in (caller, other_caller):
        db_session.get_one(ApiKey, key.id).revoked_at = utcnow()
    db_session.commit()
    for path in [*live, f"/v1/jobs/{job.id}", "/v1/jobs"]:
        for key in (caller, other_caller):
            refused = client.get(path, headers=key.headers)
            assert refused.status_code == 401, (path, key)
            assert refused.json()["detail"] == "The API key is invalid or has been revoked."


def test_the_job_json_is_unchanged(client: TestClient, caller: Any, make_job: MakeJob) -> None:
    """The served object, field by field (a golden copy): the single GET and the page's item agree."""
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    job = make_job(
        caller.id,
        status="succeeded",
        created_at=created,
        started_at=created,
        finished_at=created,
        round=1,
        layers_total=4,
        layers_remaining=3,
        baseline_score=0.5,
        current_score=0.25,
        retained_fraction=0.5,
        result={
            "layers_removed": 1,
            "removed_layers": [2],
            "kept_layers": [0, 1, 3],
            "score": 0.25,
            "report_score": 0.25,
            "retained_fraction": 0.5,
            "parameters_before": 10,
            "parameters_after": 8,
            "extra": {"kept": True},
            "artifact": {"bytes": 1, "sha256": "stale"},
        },
        artifact_bytes=7,
        warnings=[{"code": "weak-baseline", "message": "m"}],
        protected_layers=[0],
        metadata_={"k": "v"},
    )
    body = client.get(f"/v1/jobs/{job.id}", headers=caller.headers).json()
    base = f"/v1/jobs/{job.id}"
    names = ("created_at", "started_at", "finished_at")
    times = {name: datetime.fromisoformat(body.pop(name)) for name in names}
    assert times == dict.fromkeys(times, created)
    assert body == {
        "id": job.id, "object": "job", "status": "succeeded", "model": "prajjwal1/bert-tiny",
        "task": {"name": "rte"}, "strategy": "aglp", "retention": 0.95, "hyperparameters": {"epochs": 1},
        "metadata": {"k": "v"}, "baseline": "fine-tune", "allow_weak_baseline": False,
        "protected_layers": [0], "target_layers": None, "keep_depths": True,
        "progress": {"round": 1, "layers_total": 4, "layers_remaining": 3, "baseline_score": 0.5,
                     "current_score": 0.25, "retained_fraction": 0.5},
        "result": {"layers_removed": 1, "removed_layers": [2], "kept_layers": [0, 1, 3], "score": 0.25,
                   "report_score": 0.25, "retained_fraction": 0.5, "parameters_before": 10,
                   "parameters_after": 8, "artifact": {"bytes": 7, "sha256": "stale"}, "warnings": [],
                   "latency": None, "extra": {"kept": True}},
        "error": None, "warnings": [{"code": "weak-baseline", "message": "m"}],
        "urls": {"self": base, "rounds": f"{base}/rounds", "events": f"{base}/events",
                 "cancel": f"{base}/cancel", "artifact": f"{base}/artifact",
                 "artifacts": f"{base}/artifacts"},
    }  # fmt: skip
    page = client.get("/v1/jobs", headers=caller.headers).json()
    assert list(page) == ["object", "data", "has_more"]
    item = page["data"][0]
    assert {name: datetime.fromisoformat(item.pop(name)) for name in times} == times and item == body


def test_reads_beyond_the_pool_wait_for_a_slot_then_get_503(
    app: FastAPI, settings: Any, caller: Any, make_job: MakeJob, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At most db_pool_size reads run at once; one that waits db_pool_timeout_s is told to retry."""
    settings.db_pool_size, settings.db_pool_timeout_s = 1, 0.3
    job = make_job(caller.id)
    release, started = threading.Event(), threading.Event()
    view_job = service.view_job

    def slow_view(*args: Any) -> Any:
        started.set()
        release.wait(5)
        return view_job(*args)

    monkeypatch.setattr(service, "view_job", slow_view)

    async def scenario() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api", headers=caller.headers) as c:
            async with anyio.create_task_group() as group:
                first: list[httpx.Response] = []
                group.start_soon(lambda: _into(first, c.get(f"/v1/jobs/{job.id}")))
                await anyio.to_thread.run_sync(started.wait, 5)
                second = await c.get(f"/v1/jobs/{job.id}")
                release.set()
            third = await c.get(f"/v1/jobs/{job.id}")
        assert second.json()["type"] == "urn:secateur:problem:database-busy"
        return [first[0].status_code, second.status_code, third.status_code]

    assert anyio.run(scenario) == [200, 503, 200]


async def _into(out: list[httpx.Response], request: Any) -> None:
    """Await `request` and keep its response."""
    out.append(await request)
