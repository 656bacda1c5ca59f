"""The reconciler: requeue jobs whose worker died or whose message was lost, and finish overdue cancels."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import or_, select

from secateur.kernel import lifecycle
from secateur.kernel.db import session_scope
from secateur.kernel.models import Job, JobStatus, utcnow
from secateur.kernel.queue import enqueue, revoke
from secateur.kernel.settings import Settings, get_settings
from secateur.kernel.storage import Storage, get_storage
from secateur.kernel.vocabulary import GPU_QUEUE
from worker.blobs import cleanup

log = logging.getLogger(__name__)


@dataclass
class Summary:
    """What one reconciler pass did, by job id."""

    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    resent: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    swept: list[str] = field(default_factory=list)  # ended jobs whose leftover files were deleted

    def as_dict(self) -> dict[str, list[str]]:
        """The summary as JSON-friendly lists."""
        return asdict(self)


def requeue_or_fail(
    job_id: str, attempt: int, *, reason: str, settings: Settings, summary: Summary, may_fail: bool = True
) -> None:
    """Give a job whose attempt died another go, or fail it `worker_lost` once its attempts are spent.

    The update is guarded by the attempt number, so a worker that is merely slow and still writing
    cannot be overtaken twice, and a cancel requested meanwhile ends the job `cancelled` instead.
    `may_fail=False` is for an orderly shutdown, which is no fault of the job.
    """
    with session_scope() as session:
        if lifecycle.cancel_stopped(session, job_id, attempt=attempt, reason=reason):
            summary.cancelled.append(job_id)
            return
        if may_fail and attempt >= settings.max_attempts:
            if lifecycle.fail_lost(session, job_id, attempt=attempt, reason=reason):
                summary.failed.append(job_id)
        elif lifecycle.requeue(session, job_id, attempt=attempt, reason=reason):
            summary.requeued.append(job_id)
    if job_id in summary.requeued:
        send(job_id, settings, summary, count=False)


def send(job_id: str, settings: Settings, summary: Summary, count: bool = True) -> None:
    """Publish a queued job to Celery and note when, so a lost message can be told from a waiting one."""
    if settings.queue != "celery":
        return  # the local runner reads queued jobs from the database
    if not enqueue(job_id, settings):
        return  # broker down: the job stays queued and the next pass tries again
    with session_scope() as session:
        lifecycle.mark_enqueued(session, job_id)
    if count:
        summary.resent.append(job_id)


def gpu_backlog(settings: Settings) -> int | None:
    """How many messages wait in the GPU queue; None when the broker cannot tell (or is not used)."""
    if settings.queue != "celery":
        return None
    from amqp.exceptions import ChannelError
    from kombu import Connection

    try:
        with Connection(settings.broker_url, connect_timeout=2) as connection:
            declared = connection.default_channel.queue_declare(queue=GPU_QUEUE, passive=True)
            return int(declared.message_count)
    except ChannelError as exc:
        if str(exc.reply_code) == "404":  # kombu passes the code as a string
            return 0  # nothing was ever sent to it
        log.warning("could not read the length of queue %s: %s", GPU_QUEUE, exc)
        return None
    except Exception:
        log.warning("could not read the length of queue %s", GPU_QUEUE, exc_info=True)
        return None


def work_dir(settings: Settings, job_id: str) -> Path:
    """The job's scratch directory on this machine (absolute: checkpoints fingerprint their inputs)."""
    return settings.data_dir.resolve() / "work" / job_id


def clean_if_ended(job_id: str, settings: Settings, storage: Storage) -> bool:
    """Delete the job's work dir and checkpoint blob if it has ended; a live job's files are its resume."""
    with session_scope() as session:
        status = session.scalar(select(Job.status).where(Job.id == job_id))
    if status not in JobStatus.TERMINAL:
        return False
    cleanup(storage, job_id, work_dir(settings, job_id))
    return True


def sweep_work_dirs(settings: Settings, summary: Summary, storage: Storage | None = None) -> None:
    """Delete the files left by jobs that ended while their process could not tidy up (a kill, a crash)."""
    root = settings.data_dir.resolve() / "work"
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not names:
        return
    with session_scope() as session:
        live = set(
            session.scalars(select(Job.id).where(Job.id.in_(names), Job.status.not_in(JobStatus.TERMINAL)))
        )
    for name in names:
        if name not in live:  # ended, or no such job
            cleanup(storage or get_storage(), name, root / name)
            summary.swept.append(name)


def reconcile(now: datetime | None = None, settings: Settings | None = None) -> Summary:
    """One pass over the jobs table; safe to run from several places at once."""
    settings = settings or get_settings()
    now = now or utcnow()
    summary = Summary()
    stale_cutoff = now - timedelta(seconds=settings.stale_after_s)
    with session_scope() as session:
        stale = session.execute(
            select(Job.id, Job.attempts).where(
                Job.status.in_(JobStatus.ACTIVE),
                or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < stale_cutoff),
            )
        ).all()
        lost_cutoff = now - timedelta(seconds=settings.lost_queued_after_s)
        unsent = session.execute(
            select(Job.id, Job.enqueued_at).where(
                Job.status == JobStatus.QUEUED,
                or_(Job.enqueued_at.is_(None), Job.enqueued_at < lost_cutoff),
            )
        ).all()
        grace_cutoff = now - timedelta(seconds=settings.cancel_grace_s)
        overdue = session.scalars(
            select(Job.id).where(Job.status == JobStatus.CANCELLING, Job.cancel_requested_at < grace_cutoff)
        ).all()
    for job_id, attempt in stale:
        silent = f"no heartbeat for more than {settings.stale_after_s:g} s"
        requeue_or_fail(job_id, attempt, reason=silent, settings=settings, summary=summary)
    # A job sent long ago may just be waiting behind others: only an empty queue proves its message lost.
    backlog = gpu_backlog(settings) if any(sent for _, sent in unsent) else 0
    for job_id, sent in unsent:
        if sent is None or backlog == 0:
            send(job_id, settings, summary)
    for job_id in overdue:
        if job_id not in summary.cancelled:
            force_cancel(job_id, settings, summary)
    sweep_work_dirs(settings, summary)
    if any(asdict(summary).values()):
        log.info("reconciler: %s", summary.as_dict())
    return summary


def force_cancel(job_id: str, settings: Settings, summary: Summary) -> None:
    """A cancel the worker did not honour within the grace period: mark it cancelled and kill the task.

    Marked first, so the killed process (which tidies up on SIGTERM) finds its job ended; the checkpoint
    blob goes at once, and the work dir with the process or at the next sweep.
    """
    with session_scope() as session:
        if lifecycle.force_cancel(session, job_id, grace_s=settings.cancel_grace_s):
            summary.cancelled.append(job_id)
    revoke(job_id, terminate=True, settings=settings)
    clean_if_ended(job_id, settings, get_storage())
