"""Tables: keys, files, jobs, rounds, candidate scores and runs, events, depths; webhooks: webhooks/models."""

import uuid
from datetime import UTC, datetime
from enum import StrEnum, nonmember
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A random public id such as `job_3f2a…`."""
    return f"{prefix}_{uuid.uuid4().hex}"


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes; SQLite drops the zone, so it is put back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    """Declarative base with JSON mapped to the portable JSON type."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: UTCDateTime,
    }


class JobStatus(StrEnum):
    """A job's state; `secateur.kernel.lifecycle` makes every change, and terminal states never change."""

    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    # Plain values (the members do not exist yet in the class body); they compare equal to the members.
    ACTIVE = nonmember(frozenset({RUNNING, CANCELLING}))  # an attempt holds the job
    TERMINAL = nonmember(frozenset({SUCCEEDED, FAILED, CANCELLED}))


class ApiKey(Base):
    """A bearer key; only its SHA-256 is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("key"))
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class File(Base):
    """An uploaded model archive or dataset file, owned by one key."""

    __tablename__ = "files"

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("file"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    filename: Mapped[str] = mapped_column(String(255))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Job(Base):
    """A pruning job; the database is the source of truth for its state."""

    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("owner_id", "idempotency_key", name="uq_jobs_owner_idempotency"),
        Index("ix_jobs_owner_created", "owner_id", "created_at"),
        Index("ix_jobs_status", "status"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True, default=lambda: new_id("job"))
    owner_id: Mapped[str] = mapped_column(ForeignKey("api_keys.id"))
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED)
    model: Mapped[str] = mapped_column(String(500))
    task: Mapped[dict[str, Any]]
    strategy: Mapped[str] = mapped_column(String(16))
    retention: Mapped[float] = mapped_column(Float)
    hyperparameters: Mapped[dict[str, Any]]
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata")
    idempotency_key: Mapped[str | None] = mapped_column(String(255), default=None)
    request_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    # How the job starts and where it may stop (server defaults fill rows made before these existed).
    baseline: Mapped[str] = mapped_column(String(16), default="fine-tune", server_default="fine-tune")
    allow_weak_baseline: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    protected_layers: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    target_layers: Mapped[int | None] = mapped_column(Integer, default=None)
    keep_depths: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    warnings: Mapped[list[Any] | None] = mapped_column(JSON, default=None)  # [{"code", "message"}]

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    enqueued_at: Mapped[datetime | None] = mapped_column(default=None)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(255), default=None)

    # Progress, written by the worker as rounds finish.
    round: Mapped[int] = mapped_column(Integer, default=0)
    layers_total: Mapped[int | None] = mapped_column(Integer, default=None)
    layers_remaining: Mapped[int | None] = mapped_column(Integer, default=None)
    baseline_score: Mapped[float | None] = mapped_column(Float, default=None)
    current_score: Mapped[float | None] = mapped_column(Float, default=None)
    retained_fraction: Mapped[float | None] = mapped_column(Float, default=None)

    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    artifact_key: Mapped[str | None] = mapped_column(String(500), default=None)
    artifact_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    artifact_sha256: Mapped[str | None] = mapped_column(String(64), default=None)


class Round(Base):
    """One pruning round of a job; unique on (job, round) so a resumed job never records it twice."""

    __tablename__ = "rounds"
    __table_args__ = (UniqueConstraint("job_id", "round", name="uq_rounds_job_round"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    layers_before: Mapped[int] = mapped_column(Integer)
    removed_layer: Mapped[int | None] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float)
    report_score: Mapped[float | None] = mapped_column(Float)
    retained_fraction: Mapped[float | None] = mapped_column(Float)
    accepted: Mapped[bool] = mapped_column(Boolean)
    seconds: Mapped[float] = mapped_column(Float)
    train_examples: Mapped[int] = mapped_column(BigInteger, default=0)
    # Shortlist rounds: was the fine-tuned winner the zero-shot favourite, and how well the rankings agree.
    zero_shot_top: Mapped[bool | None] = mapped_column(Boolean, default=None)
    kendall_tau: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CandidateScore(Base):
    """One candidate of one round: its scores with that (original) layer removed.

    `score` is the fine-tuned selection score, null for a candidate that was only scored zero-shot.
    """

    __tablename__ = "candidate_scores"
    __table_args__ = (UniqueConstraint("job_id", "round", "layer", name="uq_candidates_job_round_layer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    layer: Mapped[int] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Float)
    seconds: Mapped[float] = mapped_column(Float, default=0.0)
    zero_shot_score: Mapped[float | None] = mapped_column(Float, default=None)
    zero_shot_loss: Mapped[float | None] = mapped_column(Float, default=None)
    block_influence: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CandidateRunStatus:
    """A fanned-out candidate is pending until a worker claims it, and done once its score is in."""

    PENDING = "pending"
    CLAIMED = "claimed"
    DONE = "done"


class CandidateRun(Base):
    """One candidate fine-tune of one attempt's round, shared out to the workers (the fan-out's work list).

    Unique on (job, attempt, round, layer): created once, claimed by one worker at a time (a lease that
    went stale may be claimed again), scored once.
    """

    __tablename__ = "candidate_runs"
    __table_args__ = (
        UniqueConstraint(
            "job_id", "attempt", "round", "layer", name="uq_candidate_runs_job_attempt_round_layer"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    attempt: Mapped[int] = mapped_column(Integer)
    round: Mapped[int] = mapped_column(Integer)
    layer: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=CandidateRunStatus.PENDING)
    worker: Mapped[str | None] = mapped_column(String(255), default=None)
    claims: Mapped[int] = mapped_column(Integer, default=0)  # more than one: a lost claim was taken over
    lease_at: Mapped[datetime | None] = mapped_column(default=None)
    score: Mapped[float | None] = mapped_column(Float, default=None)
    seconds: Mapped[float | None] = mapped_column(Float, default=None)
    train_examples: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class Event(Base):
    """An append-only log line of a job; the integer id is the `after` cursor."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_job_id_id", "job_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobDepth(Base):
    """An accepted round's model kept for download; `storage_key` is None once dropped for space."""

    __tablename__ = "job_depths"
    __table_args__ = (UniqueConstraint("job_id", "layers", name="uq_job_depths_job_layers"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    round: Mapped[int] = mapped_column(Integer)
    layers: Mapped[int] = mapped_column(Integer)
    kept_layers: Mapped[list[Any]] = mapped_column(JSON)
    score: Mapped[float] = mapped_column(Float)
    report_score: Mapped[float] = mapped_column(Float)
    parameters: Mapped[int] = mapped_column(BigInteger)
    latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    device: Mapped[str | None] = mapped_column(String(255), default=None)
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    storage_key: Mapped[str | None] = mapped_column(String(500), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    dropped_at: Mapped[datetime | None] = mapped_column(default=None)
