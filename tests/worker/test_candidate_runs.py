"""The fan-out work list on SQLite: one holder per candidate, stale claims taken over, each scored once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from secateur.kernel.db import session_scope
from secateur.kernel.models import CandidateRun, Job, JobStatus, utcnow
from secateur.kernel.settings import Settings
from tests.support.job_rows import make_job
from worker import candidate_runs as runs
from worker.candidate_runs import Done, RoundKey


def age_leases(key: RoundKey, seconds: float) -> None:
    """Move every lease of the round `seconds` into the past, as if its worker had gone silent."""
    with session_scope() as session:
        session.execute(
            update(CandidateRun).where(key.where()).values(lease_at=utcnow() - timedelta(seconds=seconds))
        )


def test_claims_are_exclusive_stale_ones_are_taken_over_and_scores_recorded_once(local_db: Settings) -> None:
    """Two workers never hold one candidate; a stale lease is taken over; the second finish is a no-op."""
    key = RoundKey(make_job(status=JobStatus.RUNNING, attempts=1), 1, 1)
    runs.add_pending(key, [2, 0, 1])
    runs.add_pending(key, [0, 1, 2])  # a second call adds nothing
    assert runs.progress(key) == ([], 3)

    assert runs.claim(key, 0, "a:1", None)
    assert not runs.claim(key, 0, "b:2", None)
    assert runs.claim_next(key, "b:2", None) == 1
    assert runs.claim_next(key, "c:3", None) == 2
    assert runs.claim_next(key, "c:3", None) is None
    # A fresh lease is not stale; an old one is, and the takeover counts a second claim.
    assert runs.claim_next(key, "job:9", 60.0) is None
    assert runs.renew(key, 1, "b:2") and not runs.renew(key, 1, "a:1")
    age_leases(key, 120)
    assert runs.claim(key, 1, "job:9", 60.0)
    assert not runs.renew(key, 1, "b:2")  # the old holder learns it lost the claim

    assert runs.finish(key, Done(1, 0.75, 2.0, 32), "job:9")
    assert not runs.finish(key, Done(1, 0.75, 2.5, 32), "b:2")  # the lost worker's copy is not recorded
    runs.release(key, 2, "c:3")
    assert runs.claim_next(key, "job:9", None) == 2  # released: pending again
    done, left = runs.progress(key)
    assert done == [Done(1, 0.75, 2.0, 32)] and left == 2
    with session_scope() as session:
        claims = dict(session.query(CandidateRun.layer, CandidateRun.claims).filter(key.where()).all())
    assert claims == {0: 1, 1: 2, 2: 2}


def test_a_round_of_another_attempt_is_its_own(local_db: Settings) -> None:
    """Rows are keyed by attempt: a resumed attempt starts its round afresh."""
    job_id = make_job(status=JobStatus.RUNNING, attempts=2)
    old, new = RoundKey(job_id, 1, 1), RoundKey(job_id, 2, 1)
    runs.add_pending(old, [0])
    assert runs.claim(old, 0, "a:1", None)
    runs.add_pending(new, [0])
    assert runs.claim(new, 0, "b:2", None)
    assert runs.job_open(new) == (True, False)
    assert runs.job_open(old) == (False, False)  # the job moved on to attempt 2


def test_job_open_sees_a_cancel_and_the_end(local_db: Settings) -> None:
    """A candidate task stops on a cancel request and once the job ends."""
    key = RoundKey(make_job(status=JobStatus.RUNNING, attempts=1), 1, 1)
    assert not runs.jobs_waiting()
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == key.job_id).values(cancel_requested_at=utcnow()))
    assert runs.job_open(key) == (True, True)
    with session_scope() as session:
        session.execute(update(Job).where(Job.id == key.job_id).values(status=JobStatus.CANCELLED))
    assert runs.job_open(key) == (False, False)
    make_job()  # queued
    assert runs.jobs_waiting()
