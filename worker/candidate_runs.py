"""The fan-out's SQL: candidate runs created once, claimed with a compare-and-set lease, scored once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, or_, select, update

from secateur.kernel.db import session_scope
from secateur.kernel.models import CandidateRun, Job, JobStatus, utcnow
from secateur.kernel.models import CandidateRunStatus as Status

ACTIVE = (JobStatus.RUNNING, JobStatus.CANCELLING)


@dataclass(frozen=True)
class RoundKey:
    """One attempt's round of one job: the candidates it shares out."""

    job_id: str
    attempt: int
    round: int

    def where(self) -> ColumnElement[bool]:
        """The rows of this round."""
        return and_(
            CandidateRun.job_id == self.job_id,
            CandidateRun.attempt == self.attempt,
            CandidateRun.round == self.round,
        )


@dataclass(frozen=True)
class Done:
    """A scored candidate."""

    layer: int
    score: float
    seconds: float
    train_examples: int


def add_pending(key: RoundKey, layers: list[int]) -> None:
    """Create the round's candidate rows that do not exist yet (a replayed round keeps its rows)."""
    with session_scope() as session:
        existing = set(session.scalars(select(CandidateRun.layer).where(key.where())))
        for layer in sorted(set(layers) - existing):
            session.add(CandidateRun(job_id=key.job_id, attempt=key.attempt, round=key.round, layer=layer))


def _claimable(now: datetime, stale_after_s: float | None) -> ColumnElement[bool]:
    """Pending, or (given `stale_after_s`) claimed by a worker whose lease went stale: a lost task."""
    if stale_after_s is None:
        return CandidateRun.status == Status.PENDING
    stale_before = now - timedelta(seconds=stale_after_s)
    stale = and_(CandidateRun.status == Status.CLAIMED, CandidateRun.lease_at < stale_before)
    return or_(CandidateRun.status == Status.PENDING, stale)


def claim(key: RoundKey, layer: int, worker: str, stale_after_s: float | None) -> bool:
    """Take one candidate with a compare-and-set update; False when someone else holds or scored it.

    `stale_after_s` None takes only a pending candidate; a number also takes over a stale lease.
    """
    now = utcnow()
    with session_scope() as session:
        result = session.execute(
            update(CandidateRun)
            .where(key.where(), CandidateRun.layer == layer, _claimable(now, stale_after_s))
            .values(status=Status.CLAIMED, worker=worker, lease_at=now, claims=CandidateRun.claims + 1)
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def claim_next(key: RoundKey, worker: str, stale_after_s: float | None) -> int | None:
    """Claim the lowest claimable candidate (see `claim`); its layer, or None when there is none."""
    condition = _claimable(utcnow(), stale_after_s)
    with session_scope() as session:
        options = list(
            session.scalars(
                select(CandidateRun.layer).where(key.where(), condition).order_by(CandidateRun.layer)
            )
        )
    for layer in options:
        if claim(key, layer, worker, stale_after_s):
            return layer
    return None


def renew(key: RoundKey, layer: int, worker: str) -> bool:
    """Extend this worker's lease on a candidate; False once it was taken over or scored."""
    with session_scope() as session:
        result = session.execute(
            update(CandidateRun)
            .where(
                key.where(),
                CandidateRun.layer == layer,
                CandidateRun.status == Status.CLAIMED,
                CandidateRun.worker == worker,
            )
            .values(lease_at=utcnow())
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def release(key: RoundKey, layer: int, worker: str) -> None:
    """Hand a candidate this worker could not finish back to the pool."""
    with session_scope() as session:
        session.execute(
            update(CandidateRun)
            .where(key.where(), CandidateRun.layer == layer, CandidateRun.worker == worker)
            .where(CandidateRun.status == Status.CLAIMED)
            .values(status=Status.PENDING, worker=None, lease_at=None)
        )


def finish(key: RoundKey, done: Done, worker: str) -> bool:
    """Record a candidate's score once; False when another worker's copy was recorded first."""
    with session_scope() as session:
        result = session.execute(
            update(CandidateRun)
            .where(key.where(), CandidateRun.layer == done.layer, CandidateRun.status != Status.DONE)
            .values(
                status=Status.DONE,
                worker=worker,
                score=done.score,
                seconds=done.seconds,
                train_examples=done.train_examples,
                finished_at=utcnow(),
            )
        )
        return result.rowcount == 1  # type: ignore[attr-defined]


def progress(key: RoundKey) -> tuple[list[Done], int]:
    """The round's scored candidates, and how many are still to score."""
    with session_scope() as session:
        rows = session.execute(
            select(
                CandidateRun.layer,
                CandidateRun.status,
                CandidateRun.score,
                CandidateRun.seconds,
                CandidateRun.train_examples,
            ).where(key.where())
        ).all()
    done = [Done(r.layer, r.score, r.seconds, r.train_examples) for r in rows if r.status == Status.DONE]
    return sorted(done, key=lambda d: d.layer), len(rows) - len(done)


def job_open(key: RoundKey) -> tuple[bool, bool]:
    """(this attempt still owns the running job, a cancel was requested)."""
    with session_scope() as session:
        row = session.execute(
            select(Job.status, Job.attempts, Job.cancel_requested_at).where(Job.id == key.job_id)
        ).one_or_none()
    if row is None or row.status not in ACTIVE or row.attempts != key.attempt:
        return False, False
    return True, row.cancel_requested_at is not None


def jobs_waiting() -> bool:
    """Whether any job is queued (a worker lingering for another job's next round should go)."""
    with session_scope() as session:
        return session.scalar(select(Job.id).where(Job.status == JobStatus.QUEUED).limit(1)) is not None
