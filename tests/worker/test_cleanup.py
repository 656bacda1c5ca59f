"""Every way a job ends deletes its work dir and checkpoint blob, a forced kill too; no stdin for jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

import worker.job_runner
from secateur.kernel.db import session_scope
from secateur.kernel.models import Job, JobStatus, utcnow
from secateur.kernel.settings import Settings
from secateur.kernel.storage import get_storage
from tests.support.job_rows import job, make_job
from worker.blobs import checkpoint_key
from worker.job_runner import claim, run_job
from worker.local_runner import LocalRunner
from worker.reconciler import reconcile, work_dir

# A job process that ignores SIGTERM, as one stuck in a long C call does: only SIGKILL ends it.
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"


def leave_files(settings: Settings, job_id: str) -> None:
    """A work dir holding a checkpoint, and the checkpoint blob, as a running job has them."""
    step = work_dir(settings, job_id) / "checkpoint" / "step-0001"
    step.mkdir(parents=True)
    (step / "model.safetensors").write_bytes(b"weights")
    get_storage().put_file(checkpoint_key(job_id), step / "model.safetensors")


def files_left(settings: Settings, job_id: str) -> bool:
    """Whether anything of the job is still on disk or in storage."""
    return work_dir(settings, job_id).exists() or get_storage().exists(checkpoint_key(job_id))


def set_job(job_id: str, **values: Any) -> None:
    """Update the job row."""
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == job_id).values(**values))


class ScriptRunner(LocalRunner):
    """The local runner, with a short Python script standing in for `worker.run_one`."""

    def __init__(self, settings: Settings, script: str) -> None:
        super().__init__(settings, poll_s=0.05, kill_grace_s=0.2)
        self.script = script

    def command(self, job_id: str, attempt: int) -> list[str]:  # type: ignore[override]
        """Run the script instead of the job."""
        return [sys.executable, "-c", self.script]


def test_a_job_killed_after_the_cancel_grace_period_leaves_no_files(local_db: Settings) -> None:
    """The runner SIGKILLs a process that ignored the cancel, then deletes what the process could not."""
    job_id = make_job()
    attempt = claim(job_id, "runner", stale_after_s=60)
    assert attempt == 1
    leave_files(local_db, job_id)
    set_job(job_id, status=JobStatus.CANCELLING, cancel_requested_at=utcnow() - timedelta(seconds=60))
    ScriptRunner(local_db, STUBBORN)._run(job_id, attempt)
    assert job(job_id).status == JobStatus.CANCELLED
    assert not files_left(local_db, job_id)


def test_a_stopped_runner_keeps_the_files_its_requeued_job_resumes_from(local_db: Settings) -> None:
    """An orderly shutdown is no end of the job: its checkpoint stays."""
    job_id = make_job()
    attempt = claim(job_id, "runner", stale_after_s=60)
    assert attempt == 1
    leave_files(local_db, job_id)
    runner = ScriptRunner(local_db, STUBBORN)
    runner.stop()
    runner._run(job_id, attempt)
    assert job(job_id).status == JobStatus.QUEUED
    assert files_left(local_db, job_id)


def test_the_job_process_gets_no_stdin(local_db: Settings, tmp_path: Path) -> None:
    """With "y" waiting on the runner's stdin, the job process reads nothing."""
    job_id = make_job()
    attempt = claim(job_id, "runner", stale_after_s=60)
    assert attempt == 1
    seen = tmp_path / "stdin.txt"
    script = f"import sys; open({str(seen)!r}, 'w').write(sys.stdin.read())"
    read_end, write_end = os.pipe()
    os.write(write_end, b"y\n")
    os.close(write_end)
    saved = os.dup(0)
    os.dup2(read_end, 0)
    os.close(read_end)
    try:
        ScriptRunner(local_db, script)._run(job_id, attempt)
    finally:
        os.dup2(saved, 0)
        os.close(saved)
    assert seen.read_text() == ""


def test_the_reconciler_sweeps_the_files_of_ended_jobs_only(local_db: Settings) -> None:
    """Ended jobs and jobs that no longer exist lose their files; a running job keeps its own."""
    ended = make_job(status=JobStatus.FAILED, attempts=1)
    running = make_job(status=JobStatus.RUNNING, attempts=1, heartbeat_at=utcnow())
    for job_id in (ended, running):
        leave_files(local_db, job_id)
    work_dir(local_db, "job_gone").mkdir(parents=True)
    summary = reconcile(settings=local_db)
    assert sorted(summary.swept) == sorted([ended, "job_gone"])
    assert not files_left(local_db, ended) and not work_dir(local_db, "job_gone").exists()
    assert files_left(local_db, running)


def test_a_cancel_forced_by_the_reconciler_deletes_the_jobs_files(local_db: Settings) -> None:
    """Past the grace period the job is cancelled and its checkpoint goes with it."""
    now = utcnow()
    job_id = make_job(
        status=JobStatus.CANCELLING,
        attempts=1,
        heartbeat_at=now,
        cancel_requested_at=now - timedelta(seconds=60),
    )
    leave_files(local_db, job_id)
    assert reconcile(settings=local_db).cancelled == [job_id]
    assert not files_left(local_db, job_id)


def sigterm_while_loading(cancel: bool) -> Any:
    """A stand-in for the engine run: leaves files, maybe asks to cancel, then gets SIGTERM."""

    def run(job_id: str, *, settings: Settings, **_kwargs: Any) -> None:
        leave_files(settings, job_id)
        if cancel:
            set_job(job_id, status=JobStatus.CANCELLING, cancel_requested_at=utcnow())
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)  # the signal ends this long before it would
        raise AssertionError("SIGTERM did not stop the job")

    return run


def test_sigterm_ends_a_cancelled_job_in_its_own_process_and_tidies_up(
    local_db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Celery's revoke(terminate=True) sends SIGTERM: the job ends cancelled, with no files left."""
    job_id = make_job()
    monkeypatch.setattr(worker.job_runner, "_prune", sigterm_while_loading(cancel=True))
    run_job(job_id)
    assert job(job_id).status == JobStatus.CANCELLED
    assert not files_left(local_db, job_id)


def test_sigterm_without_a_cancel_leaves_the_job_to_be_resumed(
    local_db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker shutting down: the job stays running for the reconciler, its checkpoint kept."""
    job_id = make_job()
    monkeypatch.setattr(worker.job_runner, "_prune", sigterm_while_loading(cancel=False))
    run_job(job_id)
    assert job(job_id).status == JobStatus.RUNNING
    assert files_left(local_db, job_id)


def test_a_celery_job_process_detaches_from_the_workers_stdin() -> None:
    """Billiard swaps sys.stdin only; after detach_stdin, fd 0 gives nothing either."""
    script = (
        "import os, sys; from worker.process import detach_stdin; detach_stdin(); "
        "print(repr(os.read(0, 10)), repr(sys.stdin.read()))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], input=b"y\n", capture_output=True, check=True, timeout=60
    )
    assert done.stdout.decode().split() == ["b''", "''"]
