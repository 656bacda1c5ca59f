"""The engine observer that writes scores, rounds, progress, events and the heartbeat to the database."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from secateur.kernel import lifecycle
from secateur.kernel.db import session_scope
from secateur.kernel.lifecycle import add_event
from secateur.kernel.models import CandidateScore, Job, JobStatus, Round
from worker.pruning.types import Depth, RoundRecord, RunWarning

log = logging.getLogger(__name__)


def insert_once(row: Round | CandidateScore) -> bool:
    """Insert a row guarded by a unique key; False when it exists (a resumed job replaying its work)."""
    try:
        with session_scope() as session:
            session.add(row)
    except IntegrityError:
        return False
    return True


def forget_after(job_id: str, last_round: int) -> None:
    """Drop rounds and candidate scores past the checkpoint a resumed job restarts from.

    The engine records a round before checkpointing it, so a worker that died in between (or during
    a round) left rows the resumed run will replay; they are rewritten from the replay.
    """
    with session_scope() as session:
        session.execute(
            delete(CandidateScore).where(CandidateScore.job_id == job_id, CandidateScore.round > last_round)
        )
        session.execute(delete(Round).where(Round.job_id == job_id, Round.round > last_round))


class DbObserver:
    """Writes the engine's progress for one claimed attempt; stops the engine on cancel or a lost claim.

    Every write is guarded by (job id, attempt number): once the reconciler has handed the job to
    someone else, this attempt's writes match no row and `lost` turns True.
    """

    def __init__(
        self,
        job_id: str,
        attempt: int,
        *,
        heartbeat_s: float,
        on_checkpoint_saved: Callable[[Path], None] | None = None,
        poll_s: float = 1.0,
        on_depth_saved: Callable[[Depth], None] | None = None,
    ) -> None:
        self.job_id, self.attempt = job_id, attempt
        self.heartbeat_s, self.poll_s = heartbeat_s, poll_s
        self.on_checkpoint_saved = on_checkpoint_saved
        self.on_depth_saved = on_depth_saved
        self.cancel_requested = False
        self.lost = False
        self._last_beat = 0.0
        self._last_poll = 0.0

    def _progress(self, session: Session, **fields: Any) -> bool:
        """Write progress and the heartbeat while this attempt holds the job; False (and `lost`) once not."""
        if not lifecycle.record_progress(session, self.job_id, attempt=self.attempt, **fields):
            self.lost = True
        return not self.lost

    def _beat(self, session: Session) -> bool:
        """Write the heartbeat alone if this attempt still holds the job; False (and `lost`) otherwise."""
        if not lifecycle.heartbeat(session, self.job_id, attempt=self.attempt):
            self.lost = True
        return not self.lost

    def on_baseline(self, score: float, report_score: float, layers_total: int) -> None:
        """Record the full model's score, the reference for the retention threshold."""
        with session_scope() as session:
            if self._progress(
                session,
                baseline_score=score,
                layers_total=layers_total,
                layers_remaining=layers_total,
            ):
                add_event(
                    session,
                    self.job_id,
                    "baseline.scored",
                    f"full model ({layers_total} layers) scores {score:.4f}",
                    score=score,
                    report_score=report_score,
                    layers_total=layers_total,
                )
        self._last_beat = time.monotonic()

    def on_candidate(self, rnd: int, layer: int, score: float, seconds: float) -> None:
        """Record one candidate's score (once, even when a resumed round replays it)."""
        if self.lost:
            return
        row = CandidateScore(job_id=self.job_id, round=rnd, layer=layer, score=score, seconds=seconds)
        if insert_once(row):
            with session_scope() as session:
                add_event(
                    session,
                    self.job_id,
                    "candidate.scored",
                    f"round {rnd}: without layer {layer} scores {score:.4f}",
                    round=rnd,
                    layer=layer,
                    score=score,
                    seconds=seconds,
                )
        self.heartbeat()

    def on_round(self, record: RoundRecord) -> None:
        """Record a finished round and move the job's progress fields forward."""
        if self.lost:
            return
        row = Round(
            job_id=self.job_id,
            round=record.round,
            layers_before=record.layers_before,
            removed_layer=record.removed_layer,
            score=record.score,
            report_score=record.report_score,
            retained_fraction=record.retained_fraction,
            accepted=record.accepted,
            seconds=record.seconds,
            train_examples=record.train_examples,
            zero_shot_top=record.zero_shot_top,
            kendall_tau=record.kendall_tau,
        )
        self._record_zero_shot(record)
        first_time = insert_once(row)
        with session_scope() as session:
            remaining = record.layers_before - (1 if record.removed_layer is not None else 0)
            progress: dict[str, Any] = {"round": record.round}
            if record.accepted:
                progress.update(
                    layers_remaining=remaining,
                    current_score=record.score,
                    retained_fraction=record.retained_fraction,
                )
            if self._progress(session, **progress) and first_time:
                verdict = "kept" if record.accepted else "rejected (below the retention threshold)"
                add_event(
                    session,
                    self.job_id,
                    "round.finished",
                    f"round {record.round}: removed layer {record.removed_layer}, "
                    f"score {record.score:.4f}, {verdict}",
                    round=record.round,
                    removed_layer=record.removed_layer,
                    score=record.score,
                    retained_fraction=record.retained_fraction,
                    accepted=record.accepted,
                )
        self._last_beat = time.monotonic()

    def _record_zero_shot(self, record: RoundRecord) -> None:
        """Store the zero-shot fields of a round's candidates; unverified ones get their row here."""
        for c in record.candidates:
            if c.zero_shot_score is None:
                continue
            values = {
                "zero_shot_score": c.zero_shot_score,
                "zero_shot_loss": c.zero_shot_loss,
                "block_influence": c.block_influence,
            }
            row = CandidateScore(
                job_id=self.job_id,
                round=record.round,
                layer=c.layer,
                score=c.score,
                seconds=c.seconds,
                **values,
            )
            if not insert_once(row):  # verified candidates were recorded as they finished
                with session_scope() as session:
                    session.execute(
                        update(CandidateScore)
                        .where(
                            CandidateScore.job_id == self.job_id,
                            CandidateScore.round == record.round,
                            CandidateScore.layer == c.layer,
                        )
                        .values(**values)
                    )

    def on_checkpoint(self, directory: Path) -> None:
        """Copy the engine's checkpoint to storage, so another machine can resume from it."""
        if self.lost:
            return
        if self.on_checkpoint_saved is not None:
            self.on_checkpoint_saved(directory)
        with session_scope() as session:
            if self._beat(session):
                add_event(session, self.job_id, "job.checkpointed", "checkpoint saved")
        self._last_beat = time.monotonic()

    def on_warning(self, warning: RunWarning) -> None:
        """Add a warning to the job object (once, even when a resumed run raises it again) and the log."""
        if self.lost:
            return
        entry = {"code": warning.code, "message": warning.message}
        with session_scope() as session:
            current = list(session.scalar(select(Job.warnings).where(Job.id == self.job_id)) or [])
            if entry in current:
                return
            if self._progress(session, warnings=[*current, entry]):
                add_event(session, self.job_id, "job.warning", warning.message, code=warning.code)

    def on_depth(self, depth: Depth) -> None:
        """Hand an accepted depth's saved model to whoever keeps it (storage and its row)."""
        if self.lost:
            return
        if self.on_depth_saved is not None:
            self.on_depth_saved(depth)
        self.heartbeat()

    def heartbeat(self) -> None:
        """Tell the reconciler this attempt is alive; throttled to one write per `heartbeat_s`."""
        now = time.monotonic()
        if self.lost or now - self._last_beat < self.heartbeat_s:
            return
        self._last_beat = now
        with session_scope() as session:
            self._beat(session)

    def should_stop(self) -> bool:
        """True once a cancel was requested or the job was taken away; reads the DB about once a second."""
        now = time.monotonic()
        if self.cancel_requested or self.lost or now - self._last_poll < self.poll_s:
            return self.cancel_requested or self.lost
        self._last_poll = now
        with session_scope() as session:
            row = session.execute(
                select(Job.status, Job.attempts, Job.cancel_requested_at).where(Job.id == self.job_id)
            ).one_or_none()
        if row is None or row.attempts != self.attempt or row.status not in JobStatus.ACTIVE:
            self.lost = True
        elif row.cancel_requested_at is not None:
            self.cancel_requested = True
        self.heartbeat()
        return self.cancel_requested or self.lost
