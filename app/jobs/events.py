"""Live job events: one poller per process reads new events of every watched job and fans them out."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Annotated, cast

import anyio
from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from app.api.deps import SessionFactoryDep
from app.core.problems import InvalidHeader
from secateur.kernel.jobs import repository
from secateur.kernel.jobs.history import EventOut
from secateur.kernel.vocabulary import TERMINAL_EVENTS

logger = logging.getLogger("secateur.events")

# Every move to a terminal state writes one of these in the same transaction, so a stream that has
# delivered one has delivered the job's last event.


@dataclass(eq=False)
class Subscription:
    """One stream's view of one job: the last event id it has been given and its inbox (None: stop)."""

    job_id: str
    cursor: int
    inbox: asyncio.Queue[EventOut | None] = field(default_factory=asyncio.Queue)


class EventHub:
    """Polls the events table once per interval for all subscribed jobs together, not once per client.

    The session is opened for each poll and closed before sleeping, so an idle stream holds no
    database connection. A new subscriber wakes the poller at once, so its replay is not delayed.
    """

    def __init__(
        self, factory: sessionmaker[Session], interval_s: float = 1.0, ping_s: float = 15.0, batch: int = 500
    ) -> None:
        """Poll with `factory` sessions every `interval_s`; streams send a keep-alive every `ping_s`."""
        self.factory, self.interval_s, self.ping_s, self.batch = factory, interval_s, ping_s, batch
        self.subscriptions: set[Subscription] = set()
        self.polls = 0
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    @asynccontextmanager
    async def subscribe(self, job_id: str, after: int) -> AsyncIterator[Subscription]:
        """Receive the job's events with id > `after` until the context exits (e.g. the client left)."""
        subscription = Subscription(job_id, after)
        self.subscriptions.add(subscription)
        self._ensure_running()
        try:
            yield subscription
        finally:
            self.subscriptions.discard(subscription)
            if not self.subscriptions and self._wake is not None:
                self._wake.set()  # so the poller sees it is alone and stops now, not after an interval

    def nudge(self) -> None:
        """Poll now rather than at the end of the interval; safe to call from any thread."""
        task, wake = self._task, self._wake
        if task is not None and wake is not None and not task.done():
            task.get_loop().call_soon_threadsafe(wake.set)

    def _ensure_running(self) -> None:
        """Start the poller in this event loop if it is not running there, and wake it."""
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._run(), name="secateur-event-hub")
        assert self._wake is not None
        self._wake.set()

    async def _run(self) -> None:
        """Poll while anyone listens; stop when the last subscriber has gone."""
        assert self._wake is not None
        while self.subscriptions:
            self._wake.clear()
            try:
                delivered = await self.poll_once()
            except Exception:
                # A database hiccup must not end every stream: log it and try again next interval.
                logger.exception("reading job events failed")
                delivered = 0
            if delivered >= self.batch:
                continue  # a replay larger than one batch: read the rest at once
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)

    async def poll_once(self) -> int:
        """Read new events of every watched job in one query and hand each to its subscribers."""
        # Only those subscribed before the query are served from it: one that joins meanwhile may need
        # older events than the query asks for, so it waits for the next poll (which it has woken).
        subscribers = list(self.subscriptions)
        cursors: dict[str, int] = {}
        for sub in subscribers:
            cursors[sub.job_id] = min(sub.cursor, cursors.get(sub.job_id, sub.cursor))
        if not cursors:
            return 0
        rows = await run_in_threadpool(self._read, cursors)
        self.polls += 1
        by_job: dict[str, list[_Row]] = {}
        for row in rows:
            by_job.setdefault(row.job_id, []).append(row)
        for sub in subscribers:
            for row in by_job.get(sub.job_id, []):
                if row.id > sub.cursor:
                    sub.inbox.put_nowait(row.out)
                    sub.cursor = row.id
        return len(rows)

    def _read(self, cursors: dict[str, int]) -> list["_Row"]:
        """Events newer than each job's lowest cursor, oldest first, at most one batch."""
        with self.factory() as session:
            events = repository.new_events(session, cursors, self.batch)
            return [_Row(e.id, e.job_id, EventOut.model_validate(e)) for e in events]


@dataclass(frozen=True)
class _Row:
    """An event with the job it belongs to (EventOut does not carry the job id)."""

    id: int
    job_id: str
    out: EventOut


class _EndOnShutdown:
    """Given to sse-starlette as its shutdown event: when the server stops, the feed ends by itself.

    The response is then completed instead of cut off mid-stream (which uvicorn logs as an error);
    clients reconnect with Last-Event-ID and lose nothing.
    """

    def __init__(self) -> None:
        self.subscription: Subscription | None = None

    def set(self) -> None:
        """Called by sse-starlette on shutdown."""
        if self.subscription is not None:
            self.subscription.inbox.put_nowait(None)


async def get_event_hub(request: Request, factory: SessionFactoryDep) -> EventHub:
    """The application's hub, made on first use (async, so two requests cannot make two)."""
    hub: EventHub | None = getattr(request.app.state, "event_hub", None)
    if hub is None:
        hub = request.app.state.event_hub = EventHub(factory)
    return hub


EventHubDep = Annotated[EventHub, Depends(get_event_hub)]


def wants_stream(request: Request) -> bool:
    """True when the client asked for server-sent events rather than a JSON page."""
    return "text/event-stream" in request.headers.get("accept", "")


def resume_point(last_event_id: str | None, after: int, highest: int) -> int:
    """Where a stream starts: `Last-Event-ID` (a reconnecting browser sends it) wins over `after`."""
    value = (last_event_id or "").strip()
    if not value:
        return after
    if not (value.isascii() and value.isdigit() and int(value) <= highest):
        raise InvalidHeader("Last-Event-ID", f"expected an event id, a whole number up to {highest}")
    return int(value)


def _message(event: EventOut) -> ServerSentEvent:
    """One event as SSE: the id is the event's sequence number, the data its JSON object."""
    return ServerSentEvent(data=event.model_dump_json(), id=str(event.id))


async def _replayed(events: list[EventOut]) -> AsyncIterator[ServerSentEvent]:
    """A finished job's remaining events; the stream then ends."""
    for event in events:
        yield _message(event)


async def _live(
    hub: EventHub, job_id: str, after: int, shutdown: _EndOnShutdown
) -> AsyncIterator[ServerSentEvent]:
    """The job's events from the hub until its terminal event; a client that leaves unsubscribes."""
    async with hub.subscribe(job_id, after) as subscription:
        shutdown.subscription = subscription
        while (event := await subscription.inbox.get()) is not None:
            yield _message(event)
            if event.type in TERMINAL_EVENTS:
                return


def event_stream(
    hub: EventHub, job_id: str, after: int, replay: list[EventOut] | None
) -> EventSourceResponse:
    """An SSE response: `replay` for a job that has already finished, else the live feed."""
    shutdown = _EndOnShutdown()
    content = _replayed(replay) if replay is not None else _live(hub, job_id, after, shutdown)
    return EventSourceResponse(
        content,
        ping=hub.ping_s,
        # X-Accel-Buffering: a proxy such as nginx must pass each event on at once, not buffer the stream.
        headers={"X-Accel-Buffering": "no"},
        shutdown_event=cast(anyio.Event, shutdown),  # only its set() is called
        shutdown_grace_period=2.0,
    )
