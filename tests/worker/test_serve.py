"""`secateur serve` on SQLite with the local runner: a job end to end, then a clean Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
from worker_env import OFFLINE
from worker_helpers import check_artifact, submit, upload, wait_for


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_key(process: subprocess.Popen[str], lines: list[str], timeout_s: float) -> str:
    """The API key `serve` prints at start-up; the rest of its output is collected in `lines`."""
    found: list[str] = []

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("API key (") and not found:
                found.append(line.rsplit(": ", 1)[1].strip())

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout_s
    while not found:
        assert process.poll() is None, "".join(lines)
        assert time.monotonic() < deadline, "".join(lines)
        time.sleep(0.2)
    return found[0]


def test_serve_runs_a_job_on_sqlite_with_the_local_runner(
    tmp_path: Path, model_archive: Path, dataset_files: tuple[Path, Path]
) -> None:
    """No Redis, no PostgreSQL: migrations, a printed key, a job through the API, and a clean stop."""
    data_dir, port = tmp_path / "data", free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECATEUR_")}
    env.update(OFFLINE, SECATEUR_DATA_DIR=str(data_dir), SECATEUR_DEVICE="cpu", OMP_NUM_THREADS="1")
    # `secateur serve`, through the console script's own entry point.
    command = [sys.executable, "-c", "from app.cli import main; main()", "serve", "--port", str(port)]
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    try:
        key = read_key(process, lines, timeout_s=90)
        assert (data_dir / "api-key").read_text().strip() == key
        assert (data_dir / "api-key").stat().st_mode & 0o777 == 0o600
        assert (data_dir / "secateur.db").is_file()
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {key}"}
        ) as api:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if api.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "".join(lines)
                    time.sleep(0.2)
            train, validation = dataset_files
            job_id = submit(
                api,
                upload(api, model_archive, "model"),
                upload(api, train, "dataset"),
                upload(api, validation, "dataset"),
            )
            job = wait_for(api, job_id, ("succeeded",), timeout_s=180)
            assert job["result"]["layers_removed"] == 3
            check_artifact(api, job, tmp_path / "pruned")
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0, "".join(lines)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
