"""`secateur serve` in a subprocess, for the tests that drive the embedded service over real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from app.client import ApiError, SecateurClient
from tests.support.worker_env import OFFLINE


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_key(process: subprocess.Popen[str], lines: list[str], timeout_s: float, data_dir: Path) -> str:
    """The API key once `serve` has announced it (from its key file: a pipe is no terminal, so the key
    itself is not printed); the rest of its output is collected in `lines`."""
    found: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("API key") and not found:
                found.append((data_dir / "api-key").read_text().strip())

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not found:
        assert process.poll() is None, "".join(lines)
        assert time.monotonic() < deadline, "".join(lines)
        time.sleep(0.2)
    return found[0]


class Serve:
    """`secateur serve` in a subprocess, through the console script's own entry point."""

    def __init__(self, cwd: Path, data_dir: Path) -> None:
        self.cwd, self.port, self.lines, self.data_dir = cwd, free_port(), list[str](), data_dir
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SECATEUR_")}
        self.env.update(OFFLINE, SECATEUR_DATA_DIR=str(data_dir), SECATEUR_DEVICE="cpu", OMP_NUM_THREADS="1")

    def __enter__(self) -> SecateurClient:
        """Start it, read the printed key and wait until the API answers; returns a client with the key."""
        command = [
            sys.executable,
            "-c",
            "from secateur.cli import main; main()",
            "serve",
            "--port",
            str(self.port),
        ]
        self.process = subprocess.Popen(
            command, env=self.env, cwd=self.cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.key = read_key(self.process, self.lines, timeout_s=90, data_dir=self.data_dir)
        api = SecateurClient(f"http://127.0.0.1:{self.port}", self.key, max_retries=0)
        deadline = time.monotonic() + 30
        while True:
            try:
                api.jobs.list(limit=1)  # authenticated, so the key is known to the database too
                return api
            except ApiError as exc:
                assert exc.code == "unreachable" and time.monotonic() < deadline, "".join(self.lines)
                time.sleep(0.2)

    def stop(self) -> None:
        """Ctrl-C: it must shut down cleanly and exit 0."""
        self.process.send_signal(signal.SIGINT)
        assert self.process.wait(30) == 0, "".join(self.lines)

    def __exit__(self, *_: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
