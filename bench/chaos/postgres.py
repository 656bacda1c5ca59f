"""A private PostgreSQL server for the restart scenario, and what the API answers while it is down."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.stack import free_port


def _binary(name: str) -> str:
    """`name` from the newest installed PostgreSQL (Debian keeps them off the PATH)."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if found:
        return found[-1]
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} was not found (install the postgresql server package)")
    return path


class PrivatePostgres:
    """initdb in a scratch folder and pg_ctl on a port of its own: a server this scenario may stop."""

    def __init__(self) -> None:
        # A folder of its own: the chaos scratch folder is root's alone, and the server may not be root.
        self.folder = Path(tempfile.mkdtemp(prefix="secateur-chaos-pg-"))
        self.data, self.sockets = self.folder / "data", self.folder / "sockets"
        self.sockets.mkdir(parents=True)
        self.port = free_port()
        # PostgreSQL refuses to run as root; as root, the server runs as the postgres account.
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self.prefix:
            for path in (self.folder, self.sockets):
                shutil.chown(path, "postgres")
        self._run(_binary("initdb"), "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.start()
        self._run(_binary("createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "secateur")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/secateur"

    def _run(self, *command: str) -> None:
        """Run a PostgreSQL tool, its output kept in the folder's log."""
        with (self.folder / "tools.log").open("ab") as log:
            subprocess.run(
                [*self.prefix, *command], check=True, stdout=log, stderr=subprocess.STDOUT, timeout=120
            )

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.folder / "server.log")
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        """Stop the server at once (fast mode: open sessions are cut, as in a restart)."""
        self._run(_binary("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")

    def close(self) -> None:
        """Stop the server if it still runs, and remove its folder."""
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def poll_while_down(api: httpx.Client, job_id: str, down_s: float) -> dict[str, Any]:
    """Poll the job for `down_s`: how many answers were 503 problem+json with Retry-After."""
    statuses: dict[str, int] = {}
    polls = proper = 0
    deadline = time.monotonic() + down_s
    while time.monotonic() < deadline:
        polls += 1
        try:
            response = api.get(f"/v1/jobs/{job_id}")
            key = str(response.status_code)
            kind = response.headers.get("content-type", "")
            proper += (
                response.status_code == 503
                and kind.startswith("application/problem+json")
                and ("retry-after" in response.headers)
            )
        except httpx.TransportError as exc:
            key = type(exc).__name__
        statuses[key] = statuses.get(key, 0) + 1
        time.sleep(0.2)
    return {"polls_while_down": polls, "answered_503_problem": proper, "statuses_while_down": statuses}


def seconds_to_recover(api: httpx.Client, job_id: str, timeout_s: float = 120.0) -> float | None:
    """Seconds from now until the job answers 200 again; None past `timeout_s`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        try:
            if api.get(f"/v1/jobs/{job_id}").status_code == 200:
                return round(time.monotonic() - started, 2)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    return None


def restart(server: PrivatePostgres, api: httpx.Client, job_id: str, down_s: float = 5.0) -> dict[str, Any]:
    """Stop the server mid-job, poll the API while it is down, start it again and time the recovery."""
    server.stop()
    figures = poll_while_down(api, job_id, down_s)
    server.start()
    return figures | {"recover_s": seconds_to_recover(api, job_id)}


def summary(trials: list[dict[str, Any]]) -> dict[str, Any]:
    """The restart figures over the interrupted trials."""
    hit = [t for t in trials if t["interrupted"]]
    recovered = [t["recover_s"] for t in hit if t.get("recover_s") is not None]
    polls = sum(t["polls_while_down"] for t in hit)
    proper = sum(t["answered_503_problem"] for t in hit)
    return {
        "polls_while_down": polls,
        "answered_503_problem": proper,
        "answered_other": polls - proper,
        "recovered": len(recovered),
        "recover_s_max": max(recovered, default=None),
    }
