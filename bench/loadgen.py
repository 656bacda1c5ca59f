"""HTTP load for `bench.load`: a closed loop (throughput) and an open loop at a fixed rate (latency)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx


@dataclass
class Sample:
    """What one load run saw: latencies in ms and the status codes."""

    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0  # connection errors and timeouts

    def record(self, status: int, started: float) -> None:
        """Count one answered request."""
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.statuses[status] = self.statuses.get(status, 0) + 1

    def summary(self) -> dict[str, Any]:
        """Requests per second, p50/p99 latency and the status counts."""
        lat = sorted(self.latencies_ms)
        return {
            "requests": len(lat),
            "rps": round(len(lat) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(percentile(lat, 50), 2),
            "p99_ms": round(percentile(lat, 99), 2),
            "mean_ms": round(statistics.fmean(lat), 2) if lat else 0.0,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
        }


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile of sorted `values` (nearest rank); 0 for none."""
    if not values:
        return 0.0
    rank = max(0, min(len(values) - 1, round(q / 100 * len(values) + 0.5) - 1))
    return values[rank]


def _client(concurrency: int, headers: dict[str, str]) -> httpx.AsyncClient:
    """A keep-alive client with one connection per concurrent caller."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(limits=limits, headers=headers, timeout=30)


async def closed_loop(url: str, headers: dict[str, str], concurrency: int, seconds: float) -> Sample:
    """`concurrency` callers each sending the next request as soon as the last one is answered."""
    async with _client(concurrency, headers) as client:
        start = time.perf_counter()
        deadline = start + seconds
        sample = Sample(seconds)

        async def caller() -> None:
            """Requests back to back until the deadline."""
            while time.perf_counter() < deadline:
                began = time.perf_counter()
                try:
                    response = await client.get(url)
                except httpx.HTTPError:
                    sample.errors += 1
                    continue
                sample.record(response.status_code, began)

        await asyncio.gather(*(caller() for _ in range(concurrency)))
        sample.seconds = time.perf_counter() - start
        return sample


class _Connections:
    """Keep-alive HTTP/1.1 connections for one fixed GET; each answer is read by its Content-Length.

    httpx spends about a millisecond of CPU per request, which on a small machine makes the load
    generator, not the server, the bottleneck; a fixed GET needs only this much of HTTP.
    """

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        lines = [f"GET {parts.path}{'?' + parts.query if parts.query else ''} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode()
        self.idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def get(self) -> int:
        """Send the GET on an idle connection (or a new one) and return the status code."""
        reader, writer = self.idle.pop() if self.idle else await asyncio.open_connection(self.host, self.port)
        writer.write(self.request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        self.idle.append((reader, writer))
        return status

    def close(self) -> None:
        """Close every idle connection."""
        for _, writer in self.idle:
            writer.close()


async def open_loop(url: str, headers: dict[str, str], rate: float, seconds: float) -> Sample:
    """Requests started at a fixed `rate` whatever the answers' pace; latency counts from the schedule.

    Measuring from the planned start rather than the actual send avoids coordinated omission: a
    server that stalls is charged for every request that should have gone out meanwhile.
    """
    connections = _Connections(url, headers)
    sample = Sample(seconds)
    start = time.perf_counter()
    tasks = []

    async def one(planned: float) -> None:
        """One request planned for `planned`."""
        try:
            status = await connections.get()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            sample.errors += 1
            return
        sample.record(status, planned)

    for i in range(int(rate * seconds)):
        planned = start + i / rate
        delay = planned - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(planned)))
    await asyncio.gather(*tasks)
    connections.close()
    sample.seconds = time.perf_counter() - start
    return sample


async def burst(
    url: str, headers: dict[str, str], bodies: list[tuple[dict[str, Any], dict[str, str]]]
) -> list[httpx.Response | None]:
    """POST every (json, extra headers) at once; None where the connection failed."""
    async with _client(len(bodies), headers) as client:

        async def post(body: dict[str, Any], extra: dict[str, str]) -> httpx.Response | None:
            """One submission."""
            try:
                return await client.post(url, json=body, headers=extra)
            except httpx.HTTPError:
                return None

        return list(await asyncio.gather(*(post(b, h) for b, h in bodies)))


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, headers: dict[str, str], concurrency: int, seconds: float) -> dict[str, Any] | None:
    """The closed loop with wrk (C, so the client costs little CPU); None when wrk is not installed."""
    if shutil.which("wrk") is None:
        return None
    command = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency", url]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    latency = {
        q: float(v) * _UNITS_MS[u] for q, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)", out, re.M)
    }
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "requests": requests,
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": round(latency["50"], 2),
        "p99_ms": round(latency["99"], 2),
        "statuses": {"non-2xx": int(non_2xx.group(1))} if non_2xx else {},
        "errors": sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
        "seconds": seconds,
        "client": "wrk",
    }


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used so far (Linux /proc); None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
