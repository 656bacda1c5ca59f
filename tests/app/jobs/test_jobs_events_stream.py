"""GET /v1/jobs/{id}/events as server-sent events: replay, live feed, keep-alive, end and disconnect."""

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack
from typing import Any

from fastapi.testclient import TestClient
from httpx_sse import EventSource
from sqlalchemy import Connection, event
from sqlalchemy.orm import Session

from app.jobs.events import EventHub, Subscription
from secateur.kernel.models import Event, Job

MakeJob = Callable[..., Job]
SSE = {"Accept": "text/event-stream"}


def add_events(db_session: Session, job: Job, *types: str) -> list[int]:
    """Append events of these types to the job's log; returns their ids."""
    rows = [Event(job_id=job.id, type=t, message=t, data={"n": i}) for i, t in enumerate(types)]
    db_session.add_all(rows)
    db_session.commit()
    return [row.id for row in rows]


def messages(response: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """(SSE id, decoded data) for each message of a streamed response."""
    for message in EventSource(response).iter_sse():
        yield message.id, json.loads(message.data)


def test_a_finished_job_replays_from_last_event_id_and_ends(
    client: TestClient, caller: Any, make_job: MakeJob, db_session: Session, event_hub: EventHub
) -> None:
    """Last-Event-ID picks up after that event; a finished job's stream ends after its last event."""
    job = make_job(caller.id, status="succeeded")
    ids = add_events(db_session, job, "job.created", "job.started", "round.finished", "job.succeeded")
    headers = {**caller.headers, **SSE, "Last-Event-ID": str(ids[1])}
    with client.stream("GET", f"/v1/jobs/{job.id}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        got = list(messages(response))
    assert [(int(i), data["type"]) for i, data in got] == [
        (ids[2], "round.finished"),
        (ids[3], "job.succeeded"),
    ]
    assert got[0][1]["id"] == ids[2] and got[0][1]["data"] == {"n": 2}
    assert event_hub.polls == 0  # a finished job is answered from the request itself


def test_a_running_job_streams_new_events_live_until_it_ends(
    client: TestClient, caller: Any, make_job: MakeJob, db_session: Session, event_hub: EventHub
) -> None:
    """Events written while the client listens arrive in order; the terminal event closes the stream."""
    job = make_job(caller.id, status="running")
    add_events(db_session, job, "job.created", "job.started")
    with client.stream("GET", f"/v1/jobs/{job.id}/events", headers={**caller.headers, **SSE}) as response:
        stream = messages(response)
        assert [next(stream)[1]["type"], next(stream)[1]["type"]] == ["job.created", "job.started"]
        later = add_events(db_session, job, "baseline.scored", "round.finished")
        event_hub.nudge()
        assert [int(next(stream)[0]), int(next(stream)[0])] == later
        add_events(db_session, job, "job.failed")
        event_hub.nudge()
        assert [data["type"] for _, data in stream] == ["job.failed"]
    assert not event_hub.subscriptions


def test_keep_alive_comments_are_sent_while_nothing_happens(
    client: TestClient, caller: Any, make_job: MakeJob, event_hub: EventHub
) -> None:
    """An idle stream sends SSE comments, so proxies and clients do not time it out."""
    event_hub.ping_s = 0.05
    job = make_job(caller.id, status="queued")
    with client.stream("GET", f"/v1/jobs/{job.id}/events", headers={**caller.headers, **SSE}) as response:
        first = next(line for line in response.iter_lines() if line)
    assert first.startswith(":")


def test_a_client_that_disconnects_mid_stream_is_unsubscribed(
    client: TestClient, caller: Any, make_job: MakeJob, db_session: Session, event_hub: EventHub
) -> None:
    """Closing the connection mid-stream removes the subscription and the poller stops."""
    job = make_job(caller.id, status="running")
    add_events(db_session, job, "job.created")
    with client.stream("GET", f"/v1/jobs/{job.id}/events", headers={**caller.headers, **SSE}) as response:
        stream = messages(response)
        assert next(stream)[1]["type"] == "job.created"
        assert len(event_hub.subscriptions) == 1
    assert not event_hub.subscriptions
    task = event_hub._task
    assert task is not None
    client.portal.call(asyncio.wait_for, task, 5)  # type: ignore[union-attr]
    assert task.done() and not task.cancelled()


def test_stream_errors_are_problems(
    client: TestClient, caller: Any, other_caller: Any, make_job: MakeJob, event_hub: EventHub
) -> None:
    """Another key's job is a 404 and a malformed Last-Event-ID a 400 naming the header."""
    job = make_job(other_caller.id, status="running")
    response = client.get(f"/v1/jobs/{job.id}/events", headers={**caller.headers, **SSE})
    assert response.status_code == 404 and response.json()["type"] == "urn:secateur:problem:not-found"
    mine = make_job(caller.id, status="running")
    for value in ("x", "-1", "1.5", str(2**31)):
        headers = {**caller.headers, **SSE, "Last-Event-ID": value}
        bad = client.get(f"/v1/jobs/{mine.id}/events", headers=headers)
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "Last-Event-ID", value


def test_one_query_per_poll_whatever_the_number_of_subscribers(
    caller: Any, make_job: MakeJob, db_session: Session, db_connection: Connection, event_hub: EventHub
) -> None:
    """Twenty streams on three jobs cost one events query per poll, and each gets only its job's events."""
    jobs = [make_job(caller.id, status="running") for _ in range(3)]
    for job in jobs:
        add_events(db_session, job, "job.created")
    statements: list[str] = []
    event.listen(db_connection, "before_cursor_execute", lambda *a: statements.append(a[2]))

    async def scenario() -> None:
        async with AsyncExitStack() as stack:
            subs = [
                await stack.enter_async_context(event_hub.subscribe(jobs[i % 3].id, 0)) for i in range(20)
            ]
            for sub in subs:
                got = await asyncio.wait_for(sub.inbox.get(), 5)
                assert got.type == "job.created" and sub.cursor == got.id
            for job in jobs:
                add_events(db_session, job, "round.finished")
            event_hub.nudge()
            for sub in subs:
                assert (await asyncio.wait_for(sub.inbox.get(), 5)).type == "round.finished"
                assert sub.inbox.empty()

    asyncio.run(scenario())
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and "events" in s]
    assert event_hub.polls == 2 and len(reads) == 2, reads


def test_a_subscriber_joining_during_a_poll_still_gets_its_replay(
    caller: Any, make_job: MakeJob, db_session: Session, event_hub: EventHub, monkeypatch: Any
) -> None:
    """One that subscribes while a query for newer events runs is not moved past the events it lacks."""
    job = make_job(caller.id, status="running")
    ids = add_events(db_session, job, "job.created", "job.started", "round.finished")
    late = Subscription(job.id, 0)
    read = event_hub._read

    def read_while_someone_joins(cursors: dict[str, int]) -> Any:
        event_hub.subscriptions.add(late)  # joins while the query (from the second event on) runs
        return read(cursors)

    async def scenario() -> None:
        # Subscriptions are added by hand and polls driven by hand, so no background poll runs.
        early = Subscription(job.id, ids[1])
        event_hub.subscriptions.add(early)
        monkeypatch.setattr(event_hub, "_read", read_while_someone_joins)
        await event_hub.poll_once()
        assert early.inbox.get_nowait().id == ids[2]
        assert late.inbox.empty() and late.cursor == 0
        monkeypatch.setattr(event_hub, "_read", read)
        await event_hub.poll_once()
        assert [late.inbox.get_nowait().id for _ in ids] == ids and early.inbox.empty()

    asyncio.run(scenario())


def test_a_server_shutdown_completes_open_streams(
    live_server: str, caller: Any, make_job: MakeJob, db_session: Session, event_hub: EventHub
) -> None:
    """Stopping uvicorn ends each open stream with a complete response, not a cut-off one."""
    import httpx
    from sse_starlette.sse import AppStatus

    job = make_job(caller.id, status="running")
    add_events(db_session, job, "job.started")
    url = f"{live_server}/v1/jobs/{job.id}/events"
    try:
        with httpx.stream("GET", url, headers={**caller.headers, **SSE}, timeout=30) as response:
            lines = response.iter_lines()
            assert next(line for line in lines if line.startswith("data:"))
            AppStatus.should_exit = True  # what uvicorn's signal handler sets on Ctrl-C
            assert [line for line in lines if line.startswith("data:")] == []  # no RemoteProtocolError
    finally:
        AppStatus.should_exit = False
    assert not event_hub.subscriptions
