"""Reads of jobs, their rounds, candidate scores, events and kept depths (the lifecycle makes changes)."""

from typing import Any

from sqlalchemy import Connection, Row, and_, bindparam, exists, or_, select
from sqlalchemy.orm import Session

from secateur.kernel.models import ApiKey, CandidateScore, Event, Job, JobDepth, JobStatus, Round

# The polling clients' query: built once, it skips rebuilding the expression and its cache key.
_OWNED = select(Job).where(Job.id == bindparam("job_id"), Job.owner_id == bindparam("owner_id"))


def get_owned(session: Session, owner_id: str, job_id: str) -> Job | None:
    """The job if it exists and belongs to `owner_id`; another key's job is simply not found."""
    return session.scalars(_OWNED, {"job_id": job_id, "owner_id": owner_id}).one_or_none()


# What the job views read (secateur.kernel.jobs.serializers.job_out), as plain columns: reading them
# with Core skips the ORM's identity map and instance state, most of a polled GET's database cost.
VIEW_FIELDS = (
    "id", "status", "model", "task", "strategy", "retention", "hyperparameters", "metadata_", "baseline",
    "allow_weak_baseline", "protected_layers", "target_layers", "keep_depths", "warnings", "created_at",
    "started_at", "finished_at", "round", "layers_total", "layers_remaining", "baseline_score",
    "current_score", "retained_fraction", "result", "error_code", "error_message", "artifact_bytes",
    "artifact_sha256",
)  # fmt: skip
_JOBS = Job.__table__.c
_KEYS = ApiKey.__table__.c
# `key_live`: whether the owner's key exists unrevoked, an uncorrelated subquery the database runs
# once per statement. Reading it with the jobs spares the API a statement (on PostgreSQL a round
# trip) per polled GET; a statement that finds no job says nothing, and the caller asks `key_live`.
_KEY_LIVE = exists().where(_KEYS.id == bindparam("owner_id"), _KEYS.revoked_at.is_(None))
_VIEW = select(
    _KEY_LIVE.label("key_live"),
    *(_JOBS[Job.__mapper__.attrs[name].columns[0].key].label(name) for name in VIEW_FIELDS),
)
_VIEW_OWNED = _VIEW.where(_JOBS.id == bindparam("job_id"), _JOBS.owner_id == bindparam("owner_id"))
_LIVE = select(_KEY_LIVE)

Reader = Connection | Session


def key_live(reader: Reader, owner_id: str) -> bool:
    """Whether the key `owner_id` exists and is not revoked."""
    return bool(reader.execute(_LIVE, {"owner_id": owner_id}).scalar())


def view_owned(reader: Reader, owner_id: str, job_id: str) -> Row[Any] | None:
    """The job's view columns (attributes named as on Job) if it exists and belongs to `owner_id`.

    The row also carries `key_live`, the owner's key's state as the same statement saw it.
    """
    return reader.execute(_VIEW_OWNED, {"job_id": job_id, "owner_id": owner_id}).first()


# The pages' statements, built once like _VIEW_OWNED (the limit is a bound value too).
_NEWEST_FIRST = (_JOBS.created_at.desc(), _JOBS.id.desc())
_PAGE = (
    _VIEW.where(_JOBS.owner_id == bindparam("owner_id")).order_by(*_NEWEST_FIRST).limit(bindparam("limit"))
)
_PAGE_AFTER = (
    _VIEW.where(
        _JOBS.owner_id == bindparam("owner_id"),
        or_(
            _JOBS.created_at < bindparam("created_at"),
            and_(_JOBS.created_at == bindparam("created_at"), _JOBS.id < bindparam("id")),
        ),
    )
    .order_by(*_NEWEST_FIRST)
    .limit(bindparam("limit"))
)


def view_page(reader: Reader, owner_id: str, limit: int, after: Row[Any] | None) -> list[Row[Any]]:
    """Up to `limit + 1` jobs newest first, strictly after the cursor job (the extra row means more).

    Each row carries `key_live` as `view_owned`'s does.
    """
    values: dict[str, Any] = {"owner_id": owner_id, "limit": limit + 1}
    if after is None:
        return list(reader.execute(_PAGE, values).all())
    values |= {"created_at": after.created_at, "id": after.id}
    return list(reader.execute(_PAGE_AFTER, values).all())


def get_by_idempotency_key(session: Session, owner_id: str, key: str) -> Job | None:
    """The owner's job created with this Idempotency-Key, if any."""
    query = select(Job).where(Job.owner_id == owner_id, Job.idempotency_key == key)
    return session.scalars(query).one_or_none()


def rounds_with_candidates(session: Session, job_id: str) -> list[tuple[Round, list[CandidateScore]]]:
    """Every recorded round of the job with its candidates (one row per candidate per round)."""
    rounds = list(session.scalars(select(Round).where(Round.job_id == job_id).order_by(Round.round)))
    candidates = session.scalars(
        select(CandidateScore)
        .where(CandidateScore.job_id == job_id)
        .order_by(CandidateScore.round, CandidateScore.layer)
    )
    by_round: dict[int, list[CandidateScore]] = {}
    for candidate in candidates:
        by_round.setdefault(candidate.round, []).append(candidate)
    return [(r, by_round.get(r.round, [])) for r in rounds]


def events_page(session: Session, job_id: str, after: int, limit: int) -> list[Event]:
    """Up to `limit + 1` events with id > `after`, oldest first (the extra row means more)."""
    query = select(Event).where(Event.job_id == job_id, Event.id > after).order_by(Event.id).limit(limit + 1)
    return list(session.scalars(query))


def new_events(session: Session, cursors: dict[str, int], limit: int) -> list[Event]:
    """Events with id > each job's cursor, for many jobs in one query, oldest first (at most `limit`)."""
    condition = or_(*(and_(Event.job_id == job_id, Event.id > after) for job_id, after in cursors.items()))
    return list(session.scalars(select(Event).where(condition).order_by(Event.id).limit(limit)))


def events_after(session: Session, job_id: str, after: int) -> list[Event]:
    """Every event of the job with id > `after`, oldest first."""
    query = select(Event).where(Event.job_id == job_id, Event.id > after).order_by(Event.id)
    return list(session.scalars(query))


def depths(session: Session, job_id: str) -> list[JobDepth]:
    """The job's kept depths, most layers first (the order they were accepted in)."""
    query = select(JobDepth).where(JobDepth.job_id == job_id).order_by(JobDepth.layers.desc())
    return list(session.scalars(query))


def depth(session: Session, job_id: str, layers: int) -> JobDepth | None:
    """The job's kept depth with `layers` layers, if any."""
    query = select(JobDepth).where(JobDepth.job_id == job_id, JobDepth.layers == layers)
    return session.scalars(query).one_or_none()


def recent_results(session: Session, limit: int = 20) -> list[dict[str, Any] | None]:
    """The result JSON of the most recently finished succeeded jobs (for measured throughput)."""
    query = (
        select(Job.result)
        .where(Job.status == JobStatus.SUCCEEDED)
        .order_by(Job.finished_at.desc())
        .limit(limit)
    )
    return list(session.scalars(query))
