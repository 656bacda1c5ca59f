"""Processes the load and chaos scripts start: the API under uvicorn, a scratch database, a CPU hog."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_ADMIN_URL = os.environ.get(
    "SECATEUR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
API_KEY = "sk-sec-bench-0123456789abcdef"
OFFLINE = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def postgres_database(admin_url: str = POSTGRES_ADMIN_URL) -> Iterator[str]:
    """A fresh database on the PostgreSQL server at `admin_url`, dropped afterwards."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"secateur_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def service_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of an API or worker process of the stack under test."""
    return {
        **os.environ,
        **OFFLINE,
        "SECATEUR_DATABASE_URL": database_url,
        "SECATEUR_DATA_DIR": str(data_dir),
        "SECATEUR_BOOTSTRAP_API_KEY": API_KEY,
        "SECATEUR_DEVICE": "cpu",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
        **extra,
    }


class Process:
    """A child process in its own process group, with its output in a log file."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.command, self.env, self.log = command, env, log
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> Process:
        """Start it (again)."""
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.command, env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    @property
    def pid(self) -> int:
        """The process id (also its process group id)."""
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: int) -> None:
        """Send `sig` to its whole process group."""
        if self.alive():
            os.killpg(self.pid, sig)

    def stop(self, grace_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after `grace_s`."""
        if self.popen is None:
            return
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.popen.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                continue


def uvicorn(app: str, port: int, env: dict[str, str], log: Path) -> Process:
    """`uvicorn APP` on 127.0.0.1:`port`, without the per-request access log (as in production)."""
    command = [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--no-access-log", "--log-level", "warning"]
    return Process(command, env, log)


def wait_ready(url: str, timeout_s: float = 60.0) -> None:
    """Poll `url` until it answers 200."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not answer 200 within {timeout_s:g} s")
        time.sleep(0.2)


def cpu_hog(log: Path) -> Process:
    """One core kept busy, standing in for a training job on the same machine."""
    return Process([sys.executable, "-c", "while True: pass"], dict(os.environ), log)
