"""Job use cases: create (idempotent), read, list, rounds, events, cancel and kept depths."""

import hashlib
import json
import logging
from typing import Any

from sqlalchemy import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.problems import (
    ArtifactNotReady,
    DepthDropped,
    DepthNotFound,
    IdempotencyKeyReused,
    InvalidField,
    JobFinished,
    NotFound,
)
from app.files import repository as files_repository
from app.jobs import estimate
from app.jobs.estimate_schemas import JobEstimate
from app.keys.service import KeyRevoked
from secateur.kernel import lifecycle, queue
from secateur.kernel.jobs import repository
from secateur.kernel.jobs.schemas import CustomTask, JobCreate
from secateur.kernel.models import Event, Job, JobDepth, JobStatus, utcnow
from secateur.kernel.settings import Settings
from secateur.kernel.vocabulary import FILE_PREFIX, FROM_PRETRAINED

logger = logging.getLogger("secateur.jobs")


def request_hash(body: JobCreate) -> str:
    """SHA-256 of the canonical JSON of the body as sent (unset defaults left out)."""
    canonical = json.dumps(
        body.model_dump(mode="json", exclude_unset=True), sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _check_file(session: Session, owner_id: str, *, file_id: str, purpose: str, field: str) -> None:
    """A referenced upload must exist, be the caller's, and have the right purpose (422 naming `field`)."""
    row = files_repository.get_owned(session, owner_id, file_id)
    if row is None:
        raise InvalidField(field, f"no file {file_id!r}")
    if row.purpose != purpose:
        raise InvalidField(field, f"file {file_id!r} has purpose {row.purpose!r}, expected {purpose!r}")


def _check_references(session: Session, owner_id: str, body: JobCreate) -> None:
    """Check every file the body points at (model, train and validation files)."""
    if body.model.startswith(FILE_PREFIX):
        _check_file(session, owner_id, file_id=body.model, purpose="model", field="model")
    if isinstance(body.task, CustomTask):
        _check_file(
            session, owner_id, file_id=body.task.train_file, purpose="dataset", field="task.train_file"
        )
        _check_file(
            session,
            owner_id,
            file_id=body.task.validation_file,
            purpose="dataset",
            field="task.validation_file",
        )


def _check_options(body: JobCreate) -> None:
    """The baseline mode and layer constraints that can be checked without the model (422 naming the field).

    The model's depth is only known once a worker loads it: layers out of range and a target_layers at
    or above the depth fail the job then, with the same kind of message.
    """
    if body.baseline == "as-is" and body.strategy in FROM_PRETRAINED:
        raise InvalidField(
            "baseline",
            f"as-is cannot be used with strategy {body.strategy!r}: it fine-tunes every round from the "
            "pretrained weights, so a fine-tuned model has nothing to start from; use aglp",
        )
    protected = body.protected_layers
    repeated = sorted({layer for layer in protected if protected.count(layer) > 1})
    if repeated:
        raise InvalidField("protected_layers", f"layers {repeated} are listed more than once")
    if body.target_layers is not None and body.target_layers < len(protected):
        raise InvalidField(
            "target_layers",
            f"{body.target_layers} is below the {len(protected)} protected layers, which are never removed",
        )


def _replay(existing: Job, digest: str) -> Job:
    """The earlier job for a reused Idempotency-Key, or 422 when the body differs."""
    if existing.request_hash != digest:
        raise IdempotencyKeyReused(
            "This Idempotency-Key was already used with a different request body.",
            errors=[
                {"field": "Idempotency-Key", "message": "reused with a different body", "type": "conflict"}
            ],
        )
    return existing


def create_job(
    session: Session, *, settings: Settings, owner_id: str, body: JobCreate, idempotency_key: str | None
) -> tuple[Job, bool]:
    """Validate references, insert the job and its first event, commit, then enqueue; (job, created)."""
    digest = request_hash(body)
    if idempotency_key is not None:
        existing = repository.get_by_idempotency_key(session, owner_id, idempotency_key)
        if existing is not None:
            return _replay(existing, digest), False
    _check_options(body)
    _check_references(session, owner_id, body)
    estimate.check_budget(body, None)
    job = Job(
        owner_id=owner_id,
        model=body.model,
        task=body.task.model_dump(mode="json", exclude_none=True),
        strategy=body.strategy,
        retention=body.retention,
        hyperparameters=body.hyperparameters.model_dump(mode="json"),
        metadata_=dict(body.metadata),
        baseline=body.baseline,
        allow_weak_baseline=body.allow_weak_baseline,
        protected_layers=sorted(body.protected_layers) or None,
        target_layers=body.target_layers,
        keep_depths=body.keep_depths,
        idempotency_key=idempotency_key,
        request_hash=digest,
    )
    try:
        lifecycle.create(session, job)
        session.commit()
    except IntegrityError:
        # Lost a race with a concurrent request carrying the same Idempotency-Key: replay its job.
        session.rollback()
        existing = repository.get_by_idempotency_key(session, owner_id, idempotency_key or "")
        if idempotency_key is None or existing is None:
            raise
        return _replay(existing, digest), False
    # Only now, with the row committed, may a worker see the job.
    if queue.enqueue(job.id, settings):
        lifecycle.mark_enqueued(session, job.id)
        session.commit()
        session.refresh(job)
    return job, True


def dry_run(session: Session, owner_id: str, body: JobCreate) -> JobEstimate:
    """Validate the job as a submit would, and return its cost estimate instead of creating it."""
    _check_references(session, owner_id, body)
    return estimate.build(body, repository.recent_results(session))


def get_job(session: Session, owner_id: str, job_id: str) -> Job:
    """The caller's job, or 404."""
    job = repository.get_owned(session, owner_id, job_id)
    if job is None:
        raise NotFound(f"No job {job_id!r}.")
    return job


def _checked(reader: repository.Reader, owner_id: str, rows: list[Row[Any]]) -> list[Row[Any]]:
    """`rows` read with their key's state; KeyRevoked unless the key is live (asked when none came)."""
    live = rows[0].key_live if rows else repository.key_live(reader, owner_id)
    if not live:
        raise KeyRevoked(owner_id)
    return rows


def view_job(reader: repository.Reader, owner_id: str, job_id: str) -> Row[Any]:
    """The caller's job as the columns its view reads, or 404 (the same 404 as `get_job`).

    KeyRevoked, before anything else, when the key `owner_id` is no longer live.
    """
    row = repository.view_owned(reader, owner_id, job_id)
    if not _checked(reader, owner_id, [row] if row is not None else []):
        raise NotFound(f"No job {job_id!r}.")
    assert row is not None
    return row


def list_jobs(
    reader: repository.Reader, owner_id: str, limit: int, after: str | None
) -> tuple[list[Row[Any]], bool]:
    """One page of the caller's jobs (view rows), newest first, and whether more follow.

    KeyRevoked, before anything else, when the key `owner_id` is no longer live.
    """
    cursor = None
    if after is not None:
        cursor = repository.view_owned(reader, owner_id, after)
        if not _checked(reader, owner_id, [cursor] if cursor is not None else []):
            raise InvalidField("after", f"no job {after!r} to page after")
    rows = _checked(reader, owner_id, repository.view_page(reader, owner_id, limit, cursor))
    return rows[:limit], len(rows) > limit


def list_events(
    session: Session, *, owner_id: str, job_id: str, after: int, limit: int
) -> tuple[list[Event], bool]:
    """A page of the job's events after the cursor, oldest first."""
    get_job(session, owner_id, job_id)
    rows = repository.events_page(session, job_id, after, limit)
    return rows[:limit], len(rows) > limit


def cancel(session: Session, settings: Settings, owner_id: str, job_id: str) -> tuple[Job, int]:
    """Cancel a queued job at once (200), or ask a running one to stop (202); 409 once it has finished."""
    job = get_job(session, owner_id, job_id)
    now = utcnow()
    # Conditional updates: a worker may claim or finish the job between our read and our write.
    if lifecycle.cancel_if_queued(session, job.id, now=now):
        session.commit()
        queue.revoke(job.id, terminate=False, settings=settings)
        session.refresh(job)
        return job, 200
    if lifecycle.request_cancel(session, job.id, now=now):
        session.commit()
    session.refresh(job)
    if job.status == JobStatus.CANCELLING:
        return job, 202
    raise JobFinished(f"Job {job_id!r} has already finished ({job.status}).")


def artifact_key(job: Job) -> str:
    """The storage key of a succeeded job's archive; 409 before success."""
    if job.status != JobStatus.SUCCEEDED or not job.artifact_key:
        raise ArtifactNotReady(f"Job {job.id!r} has no artifact yet (status {job.status}).")
    return job.artifact_key


def depth_of(session: Session, owner_id: str, job_id: str, layers: int) -> JobDepth:
    """The caller's job's kept depth with `layers` layers; 404 when none was accepted, 410 once dropped."""
    job = get_job(session, owner_id, job_id)
    row = repository.depth(session, job.id, layers)
    if row is None:
        kept = [d.layers for d in repository.depths(session, job.id)]
        listed = ", ".join(map(str, kept)) if kept else "none yet"
        raise DepthNotFound(
            f"Job {job_id!r} has no accepted depth with {layers} layers (accepted depths: {listed})."
        )
    if row.storage_key is None:
        raise DepthDropped(
            f"The {layers}-layer model of job {job_id!r} was dropped to keep the job's depths within "
            "the storage bound; the last accepted model is always kept."
        )
    return row
