"""Benchmark the live event stream: N concurrent SSE clients against a real uvicorn server.

It starts the API in-process on a free port (SQLite in a temp dir, or --database-url), a writer that
appends events to a few running jobs as workers would, and N clients that follow those jobs over
`text/event-stream`. It prints the events delivered, the API's database queries per second while
streaming, and the delivery latency (write to receipt).

    python scripts/bench_events.py --clients 50 --jobs 10 --seconds 20
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from httpx_sse import aconnect_sse


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int) -> tuple[str, str, list[float], Any]:
    """Migrate, make a key, run the API on `port` in a thread: key id, key, query times, the app."""
    import uvicorn
    from sqlalchemy import event

    from app.keys.service import create_key
    from app.main import create_app
    from secateur.kernel.db import get_engine, session_scope
    from secateur.kernel.migrate import upgrade_to_head

    upgrade_to_head()
    with session_scope() as session:
        row, secret = create_key(session, "bench")
        key_id = row.id
    queries: list[float] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        queries.append(time.monotonic())

    event.listen(get_engine(), "before_cursor_execute", count)
    app = create_app()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return key_id, secret, queries, app


def worker_sessions() -> Any:
    """Sessions on an engine of their own, as a worker process has, so the API's count excludes them."""
    from sqlalchemy.orm import sessionmaker

    from secateur.kernel.db import make_engine
    from secateur.kernel.settings import get_settings

    return sessionmaker(make_engine(get_settings().sqlalchemy_url), expire_on_commit=False)


def write_events(sessions: Any, job_ids: list[str], seconds: float, every_s: float) -> int:
    """Append one `candidate.scored` event per job every `every_s`, then end each job; returns the count."""
    from secateur.kernel.models import Event

    written, deadline = 0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        with sessions.begin() as session:
            for job_id in job_ids:
                session.add(Event(job_id=job_id, type="candidate.scored", message="bench", data={}))
        written += len(job_ids)
        time.sleep(every_s)
    with sessions.begin() as session:
        for job_id in job_ids:
            session.add(Event(job_id=job_id, type="job.succeeded", message="done", data={}))
    return written + len(job_ids)


def make_jobs(sessions: Any, owner_id: str, count: int) -> list[str]:
    """Running job rows for the writer to feed."""
    from secateur.kernel.models import Job

    with sessions.begin() as session:
        jobs = [
            Job(owner_id=owner_id, status="running", model="bench", task={"name": "rte"}, strategy="aglp",
                retention=0.9, hyperparameters={}, metadata_={})
            for _ in range(count)
        ]  # fmt: skip
        session.add_all(jobs)
        session.flush()
        return [job.id for job in jobs]


async def follow(client: httpx.AsyncClient, job_id: str, latencies: list[float]) -> int:
    """Follow one job to its end; record each event's delay from its write to its arrival."""
    received = 0
    async with aconnect_sse(client, "GET", f"/v1/jobs/{job_id}/events") as source:
        async for message in source.aiter_sse():
            if not message.data:
                continue  # a keep-alive
            event = json.loads(message.data)
            written = datetime.fromisoformat(event["created_at"].replace("Z", "+00:00"))
            latencies.append((datetime.now(UTC) - written).total_seconds())
            received += 1
            if event["type"] == "job.succeeded":
                return received
    return received


async def run_clients(url: str, secret: str, job_ids: list[str], clients: int, latencies: list[float]) -> int:
    """`clients` concurrent streams spread over the jobs; returns the events they received in all."""
    limits = httpx.Limits(max_connections=clients + 5)
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as client:
        tasks = [follow(client, job_ids[i % len(job_ids)], latencies) for i in range(clients)]
        return sum(await asyncio.gather(*tasks))


def main() -> None:
    """Parse the options, run the scenario and print the figures."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between events of one job")
    parser.add_argument("--database-url", default="", help="default: SQLite in a temporary directory")
    args = parser.parse_args()

    os.environ["SECATEUR_DATA_DIR"] = tempfile.mkdtemp(prefix="secateur-bench-")
    os.environ["SECATEUR_DATABASE_URL"] = args.database_url
    port = free_port()
    key_id, secret, queries, app = start_server(port)
    sessions = worker_sessions()
    job_ids = make_jobs(sessions, key_id, args.jobs)
    latencies: list[float] = []
    result: dict[str, Any] = {}

    def writer() -> None:
        time.sleep(2.0)  # let the clients connect first
        before, began_writing = len(queries), time.monotonic()
        result["connecting"] = before
        result["written"] = write_events(sessions, job_ids, args.seconds, args.every)
        result["streaming"] = (len(queries) - before, time.monotonic() - began_writing)

    thread = threading.Thread(target=writer)
    began, first_query = time.monotonic(), len(queries)
    thread.start()
    delivered = asyncio.run(run_clients(f"http://127.0.0.1:{port}", secret, job_ids, args.clients, latencies))
    elapsed = time.monotonic() - began
    thread.join()
    streamed, streaming_s = result["streaming"]
    expected = result["written"] * args.clients // args.jobs
    quantiles = statistics.quantiles(latencies, n=100)
    db = args.database_url.split(":", 1)[0] if args.database_url else "sqlite"
    print(f"{args.clients} SSE clients on {args.jobs} jobs for {elapsed:.1f} s ({db}, {Path(__file__).name})")
    print(f"events written {result['written']}, delivered {delivered} (expected {expected})")
    connecting = result["connecting"] - first_query
    print(f"API DB queries while the clients connected (auth, job, first read): {connecting}")
    rate = streamed / streaming_s
    polls = app.state.event_hub.polls
    print(f"API DB queries while streaming: {streamed} in {streaming_s:.1f} s = {rate:.2f}/s ({polls} polls)")
    print(
        f"latency write->client: p50 {quantiles[49] * 1000:.0f} ms, p95 {quantiles[94] * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
