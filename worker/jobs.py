"""`run_job`: claim a job, run the pruning engine on it and record the outcome; free of Celery.

Both the Celery task and the local runner call this, so the two paths behave the same.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import and_, func, or_, select, update

from app.core.config import Settings, get_settings
from app.core.db import session_scope
from app.core.storage import Storage, get_storage
from app.models import Job, JobStatus, utcnow
from worker.blobs import cleanup, pack, restore_checkpoint, upload_checkpoint
from worker.inputs import build_task, hyperparameters, load_inputs, materialise_model
from worker.kept_depths import keep_depth
from worker.progress import ACTIVE, DbObserver, add_event, forget_after
from worker.pruning.errors import PruningError
from worker.pruning.types import Cancelled, PruneRequest, PruneResult

log = logging.getLogger(__name__)


def worker_name() -> str:
    """Who runs the job, as shown in the job row: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def claim(job_id: str, worker: str, stale_after_s: float) -> int | None:
    """Take the job with a compare-and-set update; returns the attempt number, or None if not ours to run.

    A queued job can be taken, and so can a running one whose heartbeat went stale (its worker died and
    the broker redelivered the message). Anything else, including a fresh heartbeat, a cancel request
    or a terminal state, means another delivery of the same job, so it must not run.
    """
    now = utcnow()
    stale = or_(Job.heartbeat_at.is_(None), Job.heartbeat_at < now - timedelta(seconds=stale_after_s))
    claimable = or_(Job.status == JobStatus.QUEUED, and_(Job.status == JobStatus.RUNNING, stale))
    with session_scope() as session:
        result = session.execute(
            update(Job)
            .where(Job.id == job_id, Job.cancel_requested_at.is_(None), claimable)
            .values(
                status=JobStatus.RUNNING,
                attempts=Job.attempts + 1,
                worker=worker,
                started_at=func.coalesce(Job.started_at, now),
                heartbeat_at=now,
            )
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return None
        attempt: int = session.execute(select(Job.attempts).where(Job.id == job_id)).scalar_one()
        resumed = " (resuming)" if attempt > 1 else ""
        add_event(session, job_id, "job.started", f"attempt {attempt} on {worker}{resumed}", attempt=attempt)
    return attempt


def adopt(job_id: str, attempt: int, worker: str) -> bool:
    """Take over a claim made by the local runner for this process; False if it is no longer valid."""
    with session_scope() as session:
        result = session.execute(
            update(Job)
            # A cancel may have come in meanwhile: the job then starts and stops at its first check.
            .where(Job.id == job_id, Job.attempts == attempt, Job.status.in_(ACTIVE))
            .values(worker=worker, heartbeat_at=utcnow())
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def finish(job_id: str, attempt: int, status: str, event: str, message: str, **values: Any) -> bool:
    """Move the job to a terminal state if this attempt still owns it."""
    with session_scope() as session:
        result = session.execute(
            update(Job)
            .where(
                Job.id == job_id,
                Job.attempts == attempt,
                Job.status.in_(ACTIVE),
            )
            .values(status=status, finished_at=utcnow(), **values)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        data = {"code": values["error_code"]} if "error_code" in values else {}
        add_event(session, job_id, event, message, **data)
    return True


def pick_device(settings: Settings) -> str:
    """SECATEUR_DEVICE when set, else CUDA when present, else the CPU."""
    if settings.device:
        return settings.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def classify(exc: BaseException, settings: Settings) -> tuple[str, str]:
    """An error code and a message that says what to fix; tracebacks stay in the worker log."""
    if isinstance(exc, PruningError):
        return exc.code, str(exc)
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, torch.cuda.OutOfMemoryError):
        return "out_of_memory", "the GPU ran out of memory: lower hyperparameters.batch_size or max_length"
    from celery.exceptions import SoftTimeLimitExceeded

    if isinstance(exc, SoftTimeLimitExceeded):
        return "time_limit", (
            f"the job ran past the worker's time limit ({settings.task_time_limit_s} s): "
            "lower hyperparameters.max_train_examples or the epochs"
        )
    return "internal_error", f"the worker failed unexpectedly ({type(exc).__name__}); details in its log"


def result_json(result: PruneResult, artifact_bytes: int, sha256: str) -> dict[str, Any]:
    """The job's `result` field."""
    return {
        "layers_removed": len(result.removed_layers),
        "removed_layers": list(result.removed_layers),
        "kept_layers": list(result.kept_layers),
        "score": result.score,
        "report_score": result.report_score,
        "baseline_score": result.baseline_score,
        "baseline_report_score": result.baseline_report_score,
        "retained_fraction": result.retained_fraction,
        "metric": result.metric,
        "strategy": result.strategy,
        "parameters_before": result.parameters_before,
        "parameters_after": result.parameters_after,
        "artifact": {"bytes": artifact_bytes, "sha256": sha256},
        "baseline": result.baseline,
        "chance_score": result.chance_score,
        "warnings": [asdict(w) for w in result.warnings],
        "latency": asdict(result.latency) if result.latency else None,
    }


def _abandon(job_id: str, storage: Storage, work: Path) -> None:
    """After losing the job, tidy up only if it has ended: a new attempt may be using the files."""
    with session_scope() as session:
        status = session.scalar(select(Job.status).where(Job.id == job_id))
    if status in JobStatus.TERMINAL:
        cleanup(storage, job_id, work)


def run_job(job_id: str, attempt: int | None = None) -> None:
    """Run one job to a terminal state, or return at once if it is not ours to run.

    `attempt` is given by the local runner, which claims the job before starting this process.
    """
    settings, storage, me = get_settings(), get_storage(), worker_name()
    if attempt is None:
        attempt = claim(job_id, me, settings.stale_after_s)
    elif not adopt(job_id, attempt, me):
        attempt = None
    if attempt is None:
        log.info("job %s is not claimable (already running, cancelled or finished); skipping", job_id)
        return
    # Absolute, because the engine fingerprints its checkpoint with the input paths.
    work = settings.data_dir.resolve() / "work" / job_id
    work.mkdir(parents=True, exist_ok=True)
    observer = DbObserver(
        job_id,
        attempt,
        settings.heartbeat_s,
        on_checkpoint_saved=lambda _step: upload_checkpoint(storage, job_id, work),
    )
    log.info("job %s: attempt %d on %s", job_id, attempt, me)
    try:
        result = _prune(job_id, settings, storage, work, observer)
    except Cancelled:
        if observer.lost:
            log.warning("job %s was taken from attempt %d; leaving it to its new owner", job_id, attempt)
            _abandon(job_id, storage, work)
            return
        finish(job_id, attempt, JobStatus.CANCELLED, "job.cancelled", "cancelled on request")
        cleanup(storage, job_id, work)
        return
    except Exception as exc:
        if observer.lost:
            log.warning("job %s: attempt %d lost its claim and then failed: %r", job_id, attempt, exc)
            _abandon(job_id, storage, work)
            return
        code, message = classify(exc, settings)
        # Users know their uploads by file id, not by this worker's directories.
        message = message.replace(f"{work}/data/", "").replace(f"{work}/", "")
        if code == "internal_error":
            log.exception("job %s failed unexpectedly", job_id)
        else:
            log.info("job %s failed: %s: %s", job_id, code, message)
        values = {"error_code": code, "error_message": message}
        finish(job_id, attempt, JobStatus.FAILED, "job.failed", message, **values)
        cleanup(storage, job_id, work)
        return
    _succeed(job_id, attempt, storage, work, result)


def _prune(
    job_id: str, settings: Settings, storage: Storage, work: Path, observer: DbObserver
) -> PruneResult:
    """Materialise the inputs and run the engine; raises Cancelled when asked to stop."""
    inputs = load_inputs(job_id)
    device = pick_device(settings)
    request = PruneRequest(
        model=materialise_model(storage, inputs.model, work),
        task=build_task(storage, settings, inputs.task, work),
        retention=inputs.retention,
        strategy=inputs.strategy,  # type: ignore[arg-type]  # validated by the API
        hyperparameters=hyperparameters(inputs.hyperparameters),
        device=device,
        baseline=inputs.baseline,  # type: ignore[arg-type]  # validated by the API
        allow_weak_baseline=inputs.allow_weak_baseline,
        protected_layers=inputs.protected_layers,
        target_layers=inputs.target_layers,
        latency_runs=settings.latency_runs,
    )
    if observer.should_stop():  # also beats: fetching inputs can take a while
        raise Cancelled()
    forget_after(job_id, restore_checkpoint(storage, job_id, work))
    observer.heartbeat()
    out_dir = work / "out"
    shutil.rmtree(out_dir, ignore_errors=True)
    from worker.pruning.engine import prune  # torch loads here, in the job's own process

    depths_dir = None
    if inputs.keep_depths:
        import torch

        from worker.pruning.latency import device_label

        label = device_label(torch.device(device))
        bound = settings.max_depth_artifacts_bytes
        observer.on_depth_saved = lambda depth: keep_depth(storage, job_id, depth, bound, label)
        depths_dir = work / "depths"
    return prune(request, observer, out_dir, work / "checkpoint", depths_dir=depths_dir)


def _succeed(job_id: str, attempt: int, storage: Storage, work: Path, result: PruneResult) -> None:
    """Upload the pruned model and record the result."""
    tarball = work / "model.tar.gz"
    size, sha256 = pack(work / "out", tarball, compress=True)
    key = f"artifacts/{job_id}/model.tar.gz"
    storage.put_file(key, tarball)
    layers = f"{len(result.removed_layers)} of {result.layers_total} layers removed"
    if finish(
        job_id,
        attempt,
        JobStatus.SUCCEEDED,
        "job.succeeded",
        f"{layers}; score {result.score:.4f}",
        result=result_json(result, size, sha256),
        artifact_key=key,
        artifact_bytes=size,
        artifact_sha256=sha256,
        layers_remaining=len(result.kept_layers),
        current_score=result.score,
        retained_fraction=result.retained_fraction,
    ):
        cleanup(storage, job_id, work)
    else:
        # Its new owner writes the same artifact key, so nothing here is deleted.
        log.warning("job %s finished but attempt %d no longer owns it; result discarded", job_id, attempt)
