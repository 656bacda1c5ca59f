"""The two ways to run Secateur, started for a chaos run: embedded `secateur serve`, and Celery."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, select

from bench.chaos.postgres import PrivatePostgres
from bench.stack import Process, free_port, service_env, uvicorn, wait_ready
from secateur.kernel.migrate import upgrade_to_head
from secateur.kernel.models import Job

# Fast failure detection, so a trial takes a minute rather than the production five; 30 s still
# leaves a job process time to import torch and load its inputs before its first heartbeat.
TIMINGS = {
    "SECATEUR_HEARTBEAT_S": "0.5",
    "SECATEUR_STALE_AFTER_S": "30",
    "SECATEUR_RECONCILE_INTERVAL_S": "2",
}


class Stack:
    """What every stack offers a trial: its API's URL and its workers to hurt."""

    name = ""
    base = ""

    def __init__(self, scratch: Path, database_url: str, postgres: PrivatePostgres | None = None) -> None:
        self.scratch, self.database_url = scratch, database_url
        self.postgres = postgres  # set when the database is a private server a scenario may restart
        self.engine = create_engine(database_url)

    def job_pid(self, job_id: str) -> int | None:
        """The pid of the process running the job, from its `worker` column (host:pid)."""
        with self.engine.connect() as conn:
            worker = conn.scalar(select(Job.worker).where(Job.id == job_id))
        pid = (worker or "").rsplit(":", 1)[-1]
        return int(pid) if pid.isdigit() else None

    def kill_worker(self, job_id: str) -> None:
        """SIGKILL whatever runs the job."""
        raise NotImplementedError

    def hang_worker(self, job_id: str) -> None:
        """SIGSTOP whatever runs the job, leaving something else able to take it over."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop every process."""
        self.engine.dispose()


class ServeStack(Stack):
    """`secateur serve`: the API and the local runner, each job in a `worker.run_one` subprocess."""

    name = "serve"

    def __init__(
        self, scratch: Path, wrapper: list[str] | None = None, postgres: PrivatePostgres | None = None
    ) -> None:
        # SQLite, its default; or a private PostgreSQL server for the restart scenario.
        super().__init__(scratch, postgres.url if postgres else f"sqlite:///{scratch / 'serve.db'}", postgres)
        upgrade_to_head(self.database_url)
        port = free_port()
        env = service_env(self.database_url, scratch / "data", SECATEUR_QUEUE="local", **TIMINGS)
        command = [
            *(wrapper or []),  # a command that sets the scene, then execs the service with its arguments
            sys.executable,
            "-c",
            "from secateur.cli import main; main()",
            "serve",
            "--port",
            str(port),
        ]
        self.serve = Process(command, env, scratch / "serve.log").start()
        self.base = f"http://127.0.0.1:{port}"
        wait_ready(f"{self.base}/healthz", timeout_s=120)
        self.stopped: list[int] = []

    def _signal_job(self, job_id: str, sig: int) -> None:
        """Send `sig` to the job's own process (the runner started it in a session of its own)."""
        pid = self.job_pid(job_id)
        if pid is not None:
            os.kill(pid, sig)
            if sig == signal.SIGSTOP:
                self.stopped.append(pid)

    def kill_worker(self, job_id: str) -> None:
        """SIGKILL the job's process; the runner sees it die."""
        self._signal_job(job_id, signal.SIGKILL)

    def hang_worker(self, job_id: str) -> None:
        """SIGSTOP the job's process: alive but silent."""
        self._signal_job(job_id, signal.SIGSTOP)

    def stop(self) -> None:
        """Ctrl-C the service; SIGKILL any process a trial left stopped."""
        for pid in self.stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.serve.stop(grace_s=40)
        super().stop()


class CeleryStack(Stack):
    """uvicorn with SECATEUR_QUEUE=celery, a private redis-server, GPU-queue workers, beat."""

    name = "celery"

    def __init__(
        self,
        scratch: Path,
        database_url: str,
        postgres: PrivatePostgres | None = None,
        wrapper: list[str] | None = None,
    ) -> None:
        super().__init__(scratch, database_url, postgres)
        self.wrapper = wrapper or []  # as ServeStack's, for the API and every Celery process
        upgrade_to_head(database_url)
        self.redis_port = free_port()
        self.redis = Process(
            ["redis-server", "--port", str(self.redis_port), "--save", "", "--dir", str(scratch)],
            dict(os.environ),
            scratch / "redis.log",
        ).start()
        broker = f"redis://127.0.0.1:{self.redis_port}/0"
        self.env = service_env(
            database_url, scratch / "data", SECATEUR_QUEUE="celery", SECATEUR_BROKER_URL=broker, **TIMINGS
        )
        port = free_port()
        self.api = uvicorn("app.main:app", port, self.env, scratch / "api.log")
        self.api.command[:0] = self.wrapper
        self.api.start()
        self.base = f"http://127.0.0.1:{port}"
        self.beat = self._celery("maintenance", "--beat", "--schedule", str(scratch / "beat-schedule"))
        self.workers = [self._celery("gpu")]
        wait_ready(f"{self.base}/readyz", timeout_s=60)

    def _celery(self, queue: str, *extra: str) -> Process:
        """A Celery worker on `queue` as docs/operations.md starts it."""
        command = [
            sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "-Q", queue,
            "--pool", "prefork", "--concurrency", "1", "--max-tasks-per-child", "1",
            "-n", f"{queue}-{uuid.uuid4().hex[:6]}@%h", "--without-gossip", "--without-mingle", *extra,
        ]  # fmt: skip
        return Process([*self.wrapper, *command], self.env, self.scratch / f"celery-{queue}.log").start()

    def kill_worker(self, job_id: str) -> None:
        """SIGKILL the GPU worker (parent and job child) and start a fresh one, as a supervisor would."""
        worker = self.workers.pop()
        worker.signal(signal.SIGKILL)
        time.sleep(0.5)
        self.workers.append(self._celery("gpu"))

    def hang_worker(self, job_id: str) -> None:
        """SIGSTOP the GPU worker and its job; a second worker is there to take the job over."""
        self.workers[-1].signal(signal.SIGSTOP)
        self.workers.append(self._celery("gpu"))

    def restart_redis(self) -> None:
        """Stop the broker (SIGTERM) and start it again on the same port, empty (no persistence)."""
        self.redis.stop(grace_s=5)
        self.redis.start()
        time.sleep(1)

    def stop(self) -> None:
        """Stop workers (continuing stopped ones first), beat, the API and Redis."""
        for process in [*self.workers, self.beat]:
            process.signal(signal.SIGCONT)
            process.stop(grace_s=20)
        self.api.stop()
        self.redis.stop(grace_s=5)
        super().stop()
