"""The embedded runner: claims queued jobs from the database and runs each in a fresh subprocess.

It also sends webhook deliveries, from a thread of its own. It needs no broker. The subprocess
calls the same `run_job` as the Celery task, and cancels use the same database flag. Torch is only
ever imported in the subprocess.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

from sqlalchemy import select

from secateur.kernel.db import session_scope
from secateur.kernel.logs import job_context
from secateur.kernel.models import Job, JobStatus, utcnow
from secateur.kernel.settings import Settings, get_settings
from secateur.kernel.storage import get_storage
from worker.job_runner import claim
from worker.outage import database_unreachable
from worker.reconciler import Summary, clean_if_ended, force_cancel, reconcile, requeue_or_fail
from worker.webhooks import DeliveryLoop

log = logging.getLogger(__name__)


def claim_next(worker: str, stale_after_s: float) -> tuple[str, int] | None:
    """Take the oldest queued job with run_job's compare-and-set claim; (job id, attempt) or None."""
    with session_scope() as session:
        candidates = session.scalars(
            select(Job.id)
            .where(Job.status == JobStatus.QUEUED, Job.cancel_requested_at.is_(None))
            .order_by(Job.created_at, Job.id)
            .limit(5)
        ).all()
    for job_id in candidates:
        attempt = claim(job_id, worker, stale_after_s)
        if attempt is not None:
            return job_id, attempt
    return None


class LocalRunner:
    """One job at a time, each in its own `python -m worker.run_one` process; stops on `stop()`."""

    def __init__(
        self, settings: Settings | None = None, poll_s: float = 1.0, kill_grace_s: float = 10.0
    ) -> None:
        self.settings = settings or get_settings()
        self.poll_s, self.kill_grace_s = poll_s, kill_grace_s
        self.name = f"local:{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._last_reconcile = 0.0

    def stop(self) -> None:
        """Ask the loop to end; a running job's subprocess is stopped and the job requeued."""
        self._stop.set()

    def run_forever(self) -> None:
        """Poll the database until stopped."""
        log.info("local runner %s started", self.name)
        # Webhooks go out from their own thread: a job's hours-long run must not hold them back.
        threading.Thread(
            target=DeliveryLoop(self.settings, self._stop).run_forever, name="webhook-deliveries", daemon=True
        ).start()
        self._requeue_orphans()
        while not self._stop.is_set():
            try:
                self._maybe_reconcile()
                claimed = claim_next(self.name, self.settings.stale_after_s)
                if claimed is None:
                    self._stop.wait(self.poll_s)
                    continue
                with job_context(claimed[0]):
                    self._run(*claimed)
            except Exception as exc:
                # A database hiccup must not kill the embedded runner; the next pass retries.
                if database_unreachable(exc):
                    log.warning("local runner pass: the database could not be reached; retrying")
                else:
                    log.exception("local runner pass failed")
                self._stop.wait(self.poll_s)
        log.info("local runner %s stopped", self.name)

    def _requeue_orphans(self) -> None:
        """Requeue at once the jobs whose process on this host is gone (`serve` was killed).

        Without this they would wait `stale_after_s` for the reconciler; the job process's pid is in
        the job's `worker` field (host:pid).
        """
        host = socket.gethostname()
        with session_scope() as session:
            rows = session.execute(
                select(Job.id, Job.attempts, Job.worker).where(
                    Job.status.in_(JobStatus.ACTIVE), Job.worker.like(f"{host}:%")
                )
            ).all()
        for job_id, attempt, worker in rows:
            pid = (worker or "").rsplit(":", 1)[-1]
            if pid.isdigit() and not _alive(int(pid)):
                requeue_or_fail(
                    job_id, attempt, reason="its process is gone", settings=self.settings, summary=Summary()
                )

    def _maybe_reconcile(self) -> None:
        """Requeue jobs left running by a runner that died (e.g. a killed `secateur serve`)."""
        if time.monotonic() - self._last_reconcile >= self.settings.reconcile_interval_s:
            self._last_reconcile = time.monotonic()
            reconcile(settings=self.settings)

    @staticmethod
    def command(job_id: str, attempt: int) -> list[str]:
        """The job process's command line."""
        return [sys.executable, "-m", "worker.run_one", job_id, "--attempt", str(attempt)]

    def _run(self, job_id: str, attempt: int) -> None:
        """Run one claimed job in a fresh interpreter and deal with how it ended."""
        command = self.command(job_id, attempt)
        log.info("job %s: starting %s", job_id, " ".join(command))
        # Same cwd and env as the runner, so a relative SECATEUR_DATA_DIR means the same folder.
        # A new session keeps Ctrl-C in the terminal from reaching the job; the runner stops it itself.
        # No stdin: nothing the job loads may prompt on (or read from) the terminal of `secateur serve`.
        process = subprocess.Popen(command, start_new_session=True, stdin=subprocess.DEVNULL)
        killed_for = ""
        while process.poll() is None:
            if self._stop.wait(self.poll_s):
                killed_for = "the local runner stopped"
                break
            killed_for = self._verdict(job_id, attempt)
            if killed_for:
                break
        if killed_for:
            # A hung process gets no grace: it cannot act on a SIGTERM it never gets to run.
            self._kill(process, 0.0 if killed_for.startswith("no heartbeat") else self.kill_grace_s)
        # Both are no-ops for a job its process finished; anything else (a crash, a kill) is handled now
        # rather than after `stale_after_s`.
        reason = killed_for or f"its process exited with code {process.returncode}"
        summary = Summary()
        if killed_for == "cancel grace period over":
            force_cancel(job_id, self.settings, summary)
        else:
            stopped = killed_for == "the local runner stopped"
            requeue_or_fail(
                job_id, attempt, reason=reason, settings=self.settings, summary=summary, may_fail=not stopped
            )
        # A killed or crashed process could not delete its files; a requeued job keeps them to resume.
        clean_if_ended(job_id, self.settings, get_storage())
        if any(summary.as_dict().values()):
            log.warning("job %s: %s -> %s", job_id, reason, summary.as_dict())

    def _verdict(self, job_id: str, attempt: int) -> str:
        """Why the job's live process must be killed now; "" while it may run on."""
        try:
            if self._cancel_overdue(job_id):
                return "cancel grace period over"
            if self._silent(job_id, attempt):
                # Alive but hung (stopped, deadlocked): the reconciler would wait for this loop forever.
                return f"no heartbeat for more than {self.settings.stale_after_s:g} s"
        except Exception as exc:
            # Nothing can be decided without the database, but the process is still this loop's to
            # watch: leaving it would let the runner claim a second job beside it, unsupervised.
            if not database_unreachable(exc):
                raise
            log.warning("job %s: the database could not be reached; still watching its process", job_id)
        return ""

    def _silent(self, job_id: str, attempt: int) -> bool:
        """Whether this attempt is still running the job but has not heartbeated for `stale_after_s`."""
        cutoff = utcnow() - timedelta(seconds=self.settings.stale_after_s)
        with session_scope() as session:
            beat = session.scalar(
                select(Job.heartbeat_at).where(
                    Job.id == job_id, Job.attempts == attempt, Job.status == JobStatus.RUNNING
                )
            )
        return beat is not None and beat < cutoff

    def _cancel_overdue(self, job_id: str) -> bool:
        """Whether the job was asked to cancel longer ago than the grace period and is still going."""
        cutoff = utcnow() - timedelta(seconds=self.settings.cancel_grace_s)
        with session_scope() as session:
            requested = session.scalar(
                select(Job.cancel_requested_at).where(Job.id == job_id, Job.status == JobStatus.CANCELLING)
            )
        return requested is not None and requested < cutoff

    @staticmethod
    def _kill(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
        """SIGTERM the job's process group, then SIGKILL it if it lingers."""
        for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, None)):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                return
            try:
                process.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                continue


def _alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True
