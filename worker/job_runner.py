"""`run_job`: claim a job, run the pruning engine on it and record the outcome; free of Celery.

Both the Celery task and the local runner call this, so the two paths behave the same.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from secateur.kernel import lifecycle
from secateur.kernel.db import session_scope
from secateur.kernel.logs import job_context
from secateur.kernel.models import Job
from secateur.kernel.settings import Settings, get_settings
from secateur.kernel.storage import Storage, get_storage
from worker.blobs import cleanup, pack, restore_checkpoint, upload_checkpoint
from worker.inputs import load_inputs, prune_request
from worker.kept_depths import keep_depth
from worker.outage import database_unreachable, hand_back
from worker.process import Terminated, terminated_on_sigterm, worker_name
from worker.progress import DbObserver, forget_after
from worker.pruning.errors import PruningError
from worker.pruning.types import Cancelled, PruneResult
from worker.reconciler import Summary, clean_if_ended, sweep_work_dirs, work_dir
from worker.results import result_json

if TYPE_CHECKING:
    from worker.fanout import Dispatch
    from worker.pruning.candidates import CandidateRunner

log = logging.getLogger(__name__)


def claim(job_id: str, worker: str, stale_after_s: float) -> int | None:
    """Take the job for a new attempt in a transaction of its own (see `lifecycle.claim`)."""
    with session_scope() as session:
        return lifecycle.claim(session, job_id, worker=worker, stale_after_s=stale_after_s)


def adopt(job_id: str, attempt: int, worker: str) -> bool:
    """Take over a claim made by the local runner for this process; False if it is no longer valid."""
    with session_scope() as session:
        return lifecycle.adopt(session, job_id, attempt=attempt, worker=worker)


def cancel_attempt(job_id: str, attempt: int) -> None:
    """End the job `cancelled` if this attempt still holds it."""
    with session_scope() as session:
        lifecycle.cancel_attempt(session, job_id, attempt=attempt)


def fail(job_id: str, attempt: int, code: str, message: str) -> None:
    """End the job `failed` if this attempt still holds it."""
    with session_scope() as session:
        lifecycle.fail(session, job_id, attempt=attempt, code=code, message=message)


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
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        # A kept depth or a checkpoint met a full disk mid-run; retrying would only fill it again.
        message = "no space left on the device while storing the job's models; free space and resubmit"
        return "storage_full", message
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


def _cancel_requested(job_id: str) -> bool:
    """Whether someone asked to cancel the job (read now, not from the observer's throttled copy)."""
    with session_scope() as session:
        return session.scalar(select(Job.cancel_requested_at).where(Job.id == job_id)) is not None


def run_job(job_id: str, attempt: int | None = None, dispatch: Dispatch | None = None) -> None:
    """Run one job to a terminal state, or return at once if it is not ours to run.

    `attempt` is given by the local runner, which claims the job before starting this process.
    `dispatch` (Celery) shares each round's candidates out to other workers when the
    settings allow it; without it they run here, one after another. Every log line written
    meanwhile carries the job id.
    """
    with job_context(job_id):
        _run_job(job_id, attempt, dispatch)


def _run_job(job_id: str, attempt: int | None, dispatch: Dispatch | None) -> None:
    """run_job's body, inside the job's log context."""
    settings, storage, me = get_settings(), get_storage(), worker_name()
    if attempt is None:
        attempt = claim(job_id, me, settings.stale_after_s)
    elif not adopt(job_id, attempt, me):
        attempt = None
    if attempt is None:
        log.info("job %s is not claimable (already running, cancelled or finished); skipping", job_id)
        return
    # Files of jobs killed on this machine (a forced cancel) go before this job adds its own.
    sweep_work_dirs(settings, Summary(), storage)
    work = work_dir(settings, job_id)
    work.mkdir(parents=True, exist_ok=True)
    observer = DbObserver(
        job_id,
        attempt,
        heartbeat_s=settings.heartbeat_s,
        on_checkpoint_saved=lambda _step: upload_checkpoint(storage, job_id, work),
    )
    log.info("job %s: attempt %d on %s", job_id, attempt, me)
    try:
        with terminated_on_sigterm():
            runner = None
            if dispatch is not None and settings.candidate_fanout:
                from worker.fanout import FanoutRunner

                runner = FanoutRunner(job_id, attempt, settings, storage, dispatch)
            result = _prune(
                job_id, settings=settings, storage=storage, work=work, observer=observer, runner=runner
            )
    except Terminated:
        # Killed from outside: a cancel ends here, a shutdown leaves the files for the resumed attempt.
        if _cancel_requested(job_id):  # only acts while this attempt still holds the job
            cancel_attempt(job_id, attempt)
        log.warning("job %s: attempt %d stopped by SIGTERM", job_id, attempt)
        clean_if_ended(job_id, settings, storage)
        return
    except Cancelled:
        if observer.lost:
            log.warning("job %s was taken from attempt %d; leaving it to its new owner", job_id, attempt)
            clean_if_ended(job_id, settings, storage)
            return
        cancel_attempt(job_id, attempt)
        cleanup(storage, job_id, work)
        return
    except Exception as exc:
        if observer.lost:
            log.warning("job %s: attempt %d lost its claim and then failed: %r", job_id, attempt, exc)
            clean_if_ended(job_id, settings, storage)
            return
        if database_unreachable(exc):
            hand_back(job_id, attempt, settings)
            return
        code, message = classify(exc, settings)
        # Users know their uploads by file id, not by this worker's directories.
        message = message.replace(f"{work}/data/", "").replace(f"{work}/", "")
        if code == "internal_error":
            log.exception("job %s failed unexpectedly", job_id)
        else:
            log.info("job %s failed: %s: %s", job_id, code, message)
        fail(job_id, attempt, code, message)
        cleanup(storage, job_id, work)
        return
    try:
        _succeed(job_id, attempt, storage=storage, work=work, result=result)
    except Exception as exc:
        if not database_unreachable(exc):
            raise
        hand_back(job_id, attempt, settings)  # the result is replayed from the last checkpoint


def _prune(
    job_id: str,
    *,
    settings: Settings,
    storage: Storage,
    work: Path,
    observer: DbObserver,
    runner: CandidateRunner | None = None,
) -> PruneResult:
    """Materialise the inputs and run the engine; raises Cancelled when asked to stop."""
    inputs = load_inputs(job_id)
    device = pick_device(settings)
    request = prune_request(storage, settings, inputs, work, device)
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
        observer.on_depth_saved = lambda depth: keep_depth(storage, job_id, depth, bound=bound, device=label)
        depths_dir = work / "depths"
    return prune(
        request,
        observer,
        out_dir=out_dir,
        checkpoint_dir=work / "checkpoint",
        depths_dir=depths_dir,
        candidate_runner=runner,
    )


def _succeed(job_id: str, attempt: int, *, storage: Storage, work: Path, result: PruneResult) -> None:
    """Upload the pruned model and record the result."""
    tarball = work / "model.tar.gz"
    key = f"artifacts/{job_id}/model.tar.gz"
    try:
        size, sha256 = pack(work / "out", tarball, compress=True)
        storage.put_file(key, tarball)
    except OSError as exc:
        # A full disk is no worker crash: retrying on the same storage would only fill it again.
        _fail_storage(job_id, attempt, storage=storage, work=work, key=key, exc=exc)
        return
    layers = f"{len(result.removed_layers)} of {result.layers_total} layers removed"
    with session_scope() as session:
        success = lifecycle.Success(
            message=f"{layers}; score {result.score:.4f}",
            result=result_json(result, size, sha256),
            artifact_key=key,
            artifact_bytes=size,
            artifact_sha256=sha256,
            layers_remaining=len(result.kept_layers),
            current_score=result.score,
            retained_fraction=result.retained_fraction,
        )
        recorded = lifecycle.succeed(session, job_id, attempt=attempt, success=success)
    if recorded:
        cleanup(storage, job_id, work)
    else:
        # Its new owner writes the same artifact key, so nothing here is deleted.
        log.warning("job %s finished but attempt %d no longer owns it; result discarded", job_id, attempt)


def _fail_storage(job_id: str, attempt: int, *, storage: Storage, work: Path, key: str, exc: OSError) -> None:
    """End the job `failed` when its artifact cannot be written; no partial artifact is left behind."""
    full = exc.errno == errno.ENOSPC
    code = "storage_full" if full else "storage_error"
    reason = "no space left on the device" if full else (exc.strerror or type(exc).__name__)
    message = f"the pruned model could not be stored ({reason}); free space in the storage and resubmit"
    log.error("job %s: storing the artifact failed: %r", job_id, exc)
    with contextlib.suppress(OSError):
        storage.delete(key)
    fail(job_id, attempt, code, message)
    cleanup(storage, job_id, work)
