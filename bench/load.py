"""`python -m bench.load`: the API's throughput and latency against a bare FastAPI app, idle and busy.

It starts the real API (`uvicorn app.main:app`) on SQLite and on a scratch PostgreSQL database, and a
bare FastAPI app in the same run, then measures `GET /v1/jobs/{id}` and `GET /v1/jobs` with and without
a CPU hog standing in for a training job, fires 100 concurrent submissions with the same and with
different Idempotency-Keys, prints a table and writes JSON under bench/results/load/.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from sqlalchemy import create_engine, func, select

from bench.loadgen import burst, closed_loop, cpu_seconds, open_loop, wrk
from bench.stack import API_KEY, cpu_hog, free_port, postgres_database, service_env, uvicorn, wait_ready
from secateur.kernel.migrate import upgrade_to_head
from secateur.kernel.models import Job

RESULTS = Path(__file__).parent / "results" / "load"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
JOB_BODY = {"model": "prajjwal1/bert-tiny", "task": {"name": "rte"}, "retention": 0.9}

cli = typer.Typer(add_completion=False, help=__doc__)


@contextmanager
def database(backend: str, scratch: Path) -> Iterator[str]:
    """A migrated database of the backend: a SQLite file, or a fresh PostgreSQL database."""
    if backend == "sqlite":
        url = f"sqlite:///{scratch / 'load.db'}"
        upgrade_to_head(url)
        yield url
        return
    with postgres_database() as url:
        upgrade_to_head(url)
        yield url


def seed(base: str, jobs: int) -> str:
    """Submit `jobs` jobs (they stay queued: no runner is started); returns the last id."""
    job_id = ""
    with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        for _ in range(jobs):
            response = client.post("/v1/jobs", json=JOB_BODY)
            response.raise_for_status()
            job_id = response.json()["id"]
    return job_id


def submissions(base: str, url: str, n: int) -> dict[str, Any]:
    """`n` concurrent POST /v1/jobs with one shared Idempotency-Key, then with `n` different ones."""
    out: dict[str, Any] = {}
    engine = create_engine(url)
    for mode in ("same_key", "different_keys"):
        tag = uuid.uuid4().hex[:8]
        keys = [f"{tag}-0"] * n if mode == "same_key" else [f"{tag}-{i}" for i in range(n)]
        bodies = [(JOB_BODY, {"Idempotency-Key": key}) for key in keys]
        responses = asyncio.run(burst(f"{base}/v1/jobs", AUTH, bodies))
        statuses: dict[str, int] = {}
        for response in responses:
            code = str(response.status_code) if response is not None else "error"
            statuses[code] = statuses.get(code, 0) + 1
        ids = {r.json()["id"] for r in responses if r is not None and r.status_code in (200, 201)}
        with engine.connect() as conn:
            rows = conn.scalar(select(func.count()).where(Job.idempotency_key.like(f"{tag}-%")))
        expected = 1 if mode == "same_key" else n
        out[mode] = {
            "requests": n,
            "statuses": statuses,
            "jobs_created": rows,
            "distinct_ids": len(ids),
            "duplicates": max(0, (rows or 0) - expected),
            "server_errors": sum(v for k, v in statuses.items() if k.startswith("5") or k == "error"),
        }
    engine.dispose()
    return out


def measure(
    targets: dict[str, tuple[str, dict[str, str], int]], concurrency: int, seconds: float, rate: float
) -> dict[str, Any]:
    """Closed-loop throughput on every target, then the open loop at `rate` on every target.

    The server's CPU time per request is recorded too: unlike req/s it barely depends on what
    else the machine runs, so it compares runs on a shared machine.
    """
    out: dict[str, Any] = {}
    for name, (url, headers, pid) in targets.items():
        cpu_before = cpu_seconds(pid)
        closed = wrk(url, headers, concurrency, seconds)
        if closed is None:
            closed = asyncio.run(closed_loop(url, headers, concurrency, seconds)).summary() | {
                "client": "httpx"
            }
        cpu_after = cpu_seconds(pid)
        if cpu_before is not None and cpu_after is not None and closed["requests"]:
            closed["server_cpu_us"] = round((cpu_after - cpu_before) / closed["requests"] * 1e6)
        paced = asyncio.run(open_loop(url, headers, rate, seconds)).summary()
        out[name] = {"closed": closed, "open": paced}
    return out


def run_backend(backend: str, bare: tuple[str, int], args: dict[str, Any], scratch: Path) -> dict[str, Any]:
    """Every measurement on one database backend."""
    with ExitStack() as stack, database(backend, scratch) as url:
        port = free_port()
        # The per-key rate limit (600/minute by default) would answer most of the load with 429s.
        env = service_env(
            url, scratch / backend, SECATEUR_QUEUE="local", SECATEUR_RATE_LIMIT_PER_KEY="1000000/second"
        )
        api = uvicorn("app.main:app", port, env, scratch / f"api-{backend}.log")
        stack.callback(api.stop)
        api.start()
        base = f"http://127.0.0.1:{port}"
        wait_ready(f"{base}/healthz")
        job_id = seed(base, args["seed_jobs"])
        targets = {
            "bare": (f"{bare[0]}/bare", {}, bare[1]),
            "GET /v1/jobs/{id}": (f"{base}/v1/jobs/{job_id}", AUTH, api.pid),
            "GET /v1/jobs": (f"{base}/v1/jobs", AUTH, api.pid),
        }
        result: dict[str, Any] = {"backend": backend, "conditions": {}}
        result["conditions"]["idle"] = measure(targets, args["concurrency"], args["seconds"], args["rate"])
        hog = cpu_hog(scratch / "hog.log").start()
        try:
            busy = measure(targets, args["concurrency"], args["seconds"], args["rate"])
        finally:
            hog.stop(grace_s=2)
        result["conditions"]["training"] = busy
        result["submissions"] = submissions(base, url, args["submissions"])
        return result


def table(result: dict[str, Any]) -> str:
    """The result as a plain-text table: one line per condition and endpoint."""
    header = (
        f"{'condition':9} {'endpoint':18} {'req/s':>8} {'% bare':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'cpu us':>7} | "
        f"{'at rate':>8} {'p50 ms':>7} {'p99 ms':>7} {'!2xx':>5}"
    )
    lines = [f"backend {result['backend']}", header]
    for condition, targets in result["conditions"].items():
        bare_rps = targets["bare"]["closed"]["rps"] or 1.0
        for name, figures in targets.items():
            closed, paced = figures["closed"], figures["open"]
            errors = sum(v for k, v in {**closed["statuses"], **paced["statuses"]}.items() if k[0] != "2")
            lines.append(
                f"{condition:9} {name:18} {closed['rps']:8.0f} {100 * closed['rps'] / bare_rps:6.0f}% "
                f"{closed['p50_ms']:7.1f} {closed['p99_ms']:7.1f} {closed.get('server_cpu_us', 0):7d} | "
                f"{paced['rps']:8.0f} "
                f"{paced['p50_ms']:7.1f} {paced['p99_ms']:7.1f} {errors:5d}"
            )
    for mode, figures in result["submissions"].items():
        lines.append(
            f"submissions {mode:15} {figures['requests']} requests: {figures['statuses']}, "
            f"{figures['jobs_created']} jobs, {figures['duplicates']} duplicates, "
            f"{figures['server_errors']} 5xx"
        )
    return "\n".join(lines)


@cli.command()
def main(
    backends: Annotated[str, typer.Option(help="Comma-separated: sqlite, postgresql.")] = "sqlite,postgresql",
    seconds: Annotated[float, typer.Option(help="Length of each load run.")] = 5.0,
    concurrency: Annotated[int, typer.Option(help="Connections in the closed loop.")] = 16,
    rate: Annotated[float, typer.Option(help="Requests per second in the open loop.")] = 200.0,
    submissions_n: Annotated[int, typer.Option("--submissions", help="Concurrent POST /v1/jobs.")] = 100,
    seed_jobs: Annotated[int, typer.Option(help="Jobs created before measuring.")] = 25,
    out: Annotated[Path, typer.Option(help="Where the JSON goes.")] = RESULTS,
) -> None:
    """Run the load scenarios and write one JSON per backend."""
    args = {"seconds": seconds, "concurrency": concurrency, "rate": rate, "submissions": submissions_n,
            "seed_jobs": seed_jobs}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="secateur-load-") as tmp, ExitStack() as stack:
        scratch = Path(tmp)
        port = free_port()
        bare = uvicorn("bench.bare_app:app", port, service_env("", scratch), scratch / "bare.log")
        stack.callback(bare.stop)
        bare.start()
        wait_ready(f"http://127.0.0.1:{port}/bare")
        out.mkdir(parents=True, exist_ok=True)
        for backend in backends.split(","):
            result = run_backend(backend.strip(), (f"http://127.0.0.1:{port}", bare.pid), args, scratch)
            result.update(
                date=datetime.now(UTC).date().isoformat(),
                command="make load",
                settings=args,
                cpus=os.cpu_count(),
                training_stand_in="one process spinning a CPU core (while True: pass)",
            )
            print(table(result), flush=True)
            (out / f"{result['backend']}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    cli()
