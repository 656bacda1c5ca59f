"""Fan-out: a round's candidate fine-tunes shared out over every idle worker, the database as referee.

The job's process saves the round's start model to storage, creates one pending candidate row per
layer, sends one `score_candidate` task per candidate and then claims and runs pending candidates
itself. Other workers' tasks claim theirs the same way (a compare-and-set on the row), download the
start model once per round into the job's work dir, and go on claiming until none is pending. A claim
holds a lease its runner renews; the job's process takes over a candidate whose lease went stale (a
worker lost mid-candidate), so the round always completes. Every score is recorded once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Protocol

from secateur.kernel.settings import Settings, get_settings
from secateur.kernel.storage import Storage, get_storage
from worker import candidate_runs as runs
from worker.blobs import pack, unpack
from worker.candidate_runs import Done, RoundKey
from worker.fanout_cache import job_request, round_prefix, start_model, upload_model
from worker.phases import Phases
from worker.process import worker_name
from worker.pruning.types import Cancelled, NullObserver
from worker.reconciler import Summary, sweep_work_dirs, work_dir

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from worker.pruning.candidates import Trial
    from worker.pruning.resume import Slot
    from worker.pruning.strategies import Context

log = logging.getLogger(__name__)


class Dispatch(Protocol):
    """How the job's process reaches the other workers (Celery in production)."""

    def send(self, job_id: str, attempt: int, rnd: int, layer: int) -> str:
        """Publish one candidate; returns the message's id."""
        ...

    def drop(self, message_ids: list[str]) -> None:
        """Discard messages of a settled round that no worker took yet, so none forks a process for them."""
        ...


class Lease:
    """Renews this worker's claim on the candidate it holds (`layer`), every `every_s`, from a thread."""

    def __init__(self, key: RoundKey, worker: str, every_s: float) -> None:
        self.key, self.worker, self.every_s = key, worker, every_s
        self.layer: int | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew, name="candidate-lease", daemon=True)

    def _renew(self) -> None:
        while not self._stop.wait(self.every_s):
            layer = self.layer
            if layer is not None:
                with contextlib.suppress(Exception):  # a missed renewal only brings the stale cutoff closer
                    runs.renew(self.key, layer, self.worker)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _run(ctx: Context, key: RoundKey, start: Slot, layer: int, me: str) -> tuple[PreTrainedModel, Trial]:
    """Fine-tune one claimed candidate; a claim it cannot finish goes back to the pool."""
    from worker.pruning.candidates import timed_candidate

    try:
        return timed_candidate(ctx, start, layer, key.round)
    except BaseException:
        runs.release(key, layer, me)
        raise


class FanoutRunner:
    """The job's side: publish the round, send its candidates, run pending ones here, wait for the rest."""

    def __init__(
        self, job_id: str, attempt: int, settings: Settings, storage: Storage, dispatch: Dispatch
    ) -> None:
        self.job_id, self.attempt, self.settings = job_id, attempt, settings
        self.storage, self.dispatch = storage, dispatch
        self.me, self.poll_s = worker_name(), 0.5
        self._held: tuple[int, int, float, PreTrainedModel] | None = None
        self._round: int | None = None  # the round whose start model is published
        self._told: set[int] = set()  # the round's candidates already told to the observer

    def score(self, ctx: Context, rnd: int, start: Slot, layers: Sequence[int]) -> list[Trial]:
        from worker.pruning.candidates import Trial

        key = RoundKey(self.job_id, self.attempt, rnd)
        phases = Phases()
        if self._round != rnd:  # a widened shortlist calls again in the same round: same start model
            self._round, self._held, self._told = rnd, None, set()
            self.storage.delete_prefix(f"fanout/{self.job_id}")  # earlier rounds are settled
            self._publish(key, start)
        phases.lap("publish")
        runs.add_pending(key, list(layers))
        sent: list[str] = []
        for each in sorted(layers):
            try:
                sent.append(self.dispatch.send(self.job_id, self.attempt, rnd, each))
            except Exception:  # nobody else will take it: this process runs it below
                log.warning("could not send candidate %d of round %d", each, rnd, exc_info=True)
        with Lease(key, self.me, self.settings.heartbeat_s) as held:
            self._loop(ctx, key, start, held, self._told)
        phases.lap("candidates")
        with contextlib.suppress(Exception):  # a message left over only costs a task that returns at once
            self.dispatch.drop(sent)
        log.info("fanout round: round=%d %s", rnd, phases.line())
        done, _ = runs.progress(key)
        asked = set(layers)
        return [Trial(d.layer, d.score, d.seconds, d.train_examples) for d in done if d.layer in asked]

    def _loop(self, ctx: Context, key: RoundKey, start: Slot, held: Lease, told: set[int]) -> None:
        """Run pending candidates here, take over lost ones, until every candidate of the round is scored."""
        rnd = key.round
        while True:
            layer = runs.claim_next(key, self.me, None)
            if layer is None:
                left = self._tell(ctx, key, told)
                if left == 0:
                    break
                layer = runs.claim_next(key, self.me, self.settings.stale_after_s)
                if layer is not None:
                    log.warning("round %d: candidate %d was lost by its worker; running it here", rnd, layer)
            if layer is None:
                ctx.observer.heartbeat()
                if ctx.observer.should_stop():
                    raise Cancelled("stopped while waiting for the round's candidates")
                time.sleep(self.poll_s)
                continue
            held.layer = layer
            model, trial = _run(ctx, key, start, layer, self.me)
            runs.finish(key, Done(layer, trial.score, trial.seconds, trial.train_examples), self.me)
            held.layer = None
            if self._held is None or (trial.score, -layer) > (self._held[2], -self._held[1]):
                self._held = (rnd, layer, trial.score, model)
            del model
            self._tell(ctx, key, told)

    def _tell(self, ctx: Context, key: RoundKey, told: set[int]) -> int:
        """Report newly scored candidates to the observer; returns how many are still to score."""
        done, left = runs.progress(key)
        for d in done:
            if d.layer not in told:
                told.add(d.layer)
                ctx.observer.on_candidate(key.round, d.layer, d.score, d.seconds)
        return left

    def _publish(self, key: RoundKey, start: Slot) -> None:
        """Save the round's start model and its layers to storage for the other workers."""
        folder = work_dir(self.settings, self.job_id) / "fanout-publish"
        shutil.rmtree(folder, ignore_errors=True)
        start.model.save_pretrained(folder / "model", safe_serialization=True)
        (folder / "kept.json").write_text(json.dumps(start.kept))
        tarball = folder.with_suffix(".tar")
        pack(folder, tarball, compress=False)
        self.storage.put_file(f"{round_prefix(key)}/start.tar", tarball)
        tarball.unlink()
        shutil.rmtree(folder, ignore_errors=True)

    def model(self, ctx: Context, rnd: int, start: Slot, layer: int) -> PreTrainedModel:
        from worker.pruning.candidates import train_candidate
        from worker.pruning.surgery import load_saved_model

        held, self._held = self._held, None
        if held is not None and held[:2] == (rnd, layer):
            return held[3]
        blob = f"{round_prefix(RoundKey(self.job_id, self.attempt, rnd))}/layer-{layer}.tar"
        if not self.storage.exists(blob):
            return train_candidate(ctx, start, layer, rnd)[0]  # pure: the same model as the lost copy
        folder = work_dir(self.settings, self.job_id) / "fanout-winner"
        tarball = folder.with_suffix(".tar")
        self.storage.fetch(blob, tarball)
        unpack(tarball, folder)
        tarball.unlink()
        return load_saved_model(folder, ctx.data.type)  # type: ignore[arg-type]


class JobWatch(NullObserver):
    """A candidate task's observer: stops once the job ends, is cancelled or moves to another attempt."""

    def __init__(self, key: RoundKey, poll_s: float = 1.0) -> None:
        self.key, self.poll_s, self._last, self._stop = key, poll_s, 0.0, False

    def should_stop(self) -> bool:
        now = time.monotonic()
        if not self._stop and now - self._last >= self.poll_s:
            self._last = now
            open_, cancelled = runs.job_open(self.key)
            self._stop = cancelled or not open_
        return self._stop


def score_candidate(job_id: str, attempt: int, rnd: int, layer: int) -> str:
    """A candidate task: claim the candidate, then every pending one of its round; says what it did."""
    settings, storage, me = get_settings(), get_storage(), worker_name()
    key = RoundKey(job_id, attempt, rnd)
    open_, cancelled = runs.job_open(key)
    if not open_ or cancelled:
        return "job ended"
    if not runs.claim(key, layer, me, None):
        # Its own candidate is taken; a sibling of the round may still wait (nothing is loaded yet).
        claimed = runs.claim_next(key, me, None)
        if claimed is None:
            return "already claimed"
        layer = claimed
    with Lease(key, me, settings.heartbeat_s) as held:
        held.layer = layer
        return _score_claimed(key, layer, held, settings, storage)


def _score_claimed(key: RoundKey, layer: int, held: Lease, settings: Settings, storage: Storage) -> str:
    """Score the claimed candidate, then claim and score pending ones of its round until none is left."""
    me, job_id, rnd = held.worker, key.job_id, key.round
    current: int | None = layer
    scored = 0
    # What this task pays before its first candidate (and per later round) is logged, to be measured.
    phases = Phases()
    try:
        sweep_work_dirs(settings, Summary(), storage)
        phases.lap("sweep")
        from worker.pruning.replay import candidate_context

        phases.lap("imports")  # nothing left to import in a worker that preloaded the engine
        request = job_request(job_id, settings, storage)
        phases.lap("inputs")
        ctx = candidate_context(request, JobWatch(key))
        phases.lap("data")
        start = start_model(key, ctx, settings, storage)
        phases.lap("start_model")
        log.info("fanout helper ready: round=%d %s", rnd, phases.line())
        while current is not None:
            if current < 0:  # the job's next round, claimed: same data, a new start model
                current = -current - 1
                key = held.key = replace(key, round=key.round + 1)
                held.layer = current
                phases = Phases()
                start = start_model(key, ctx, settings, storage)
                phases.lap("start_model")
                log.info("fanout helper ready: round=%d %s", key.round, phases.line())
            held.layer = current
            model, trial = _run(ctx, key, start, current, me)
            # The job keeps the winner's weights (repurpose_epochs 0): store them unless already beaten.
            if ctx.request.hyperparameters.repurpose_epochs == 0 and _may_win(key, current, trial.score):
                upload_model(storage, key, current, model, work_dir(settings, job_id))
            runs.finish(key, Done(current, trial.score, trial.seconds, trial.train_examples), me)
            scored += 1
            held.layer = None
            current = runs.claim_next(key, me, None)
            if current is None:
                following = _next_round(key, me, settings.candidate_linger_s)
                current = None if following is None else -following - 1
    except Cancelled:
        return f"stopped (job ended or cancelled) after {scored}"
    except Exception:
        if current is not None:
            runs.release(key, current, me)
        log.exception("candidate %s of round %d failed here; released for the job to retry", current, rnd)
        return f"failed after {scored}"
    return f"scored {scored}"


def _next_round(key: RoundKey, me: str, linger_s: float) -> int | None:
    """Wait up to `linger_s` for the job's next round and claim one of its candidates (its layer).

    Keeps the loaded data for the next round instead of a fresh process paying for it again, but
    only while no job is queued: a worker is never kept from a waiting job.
    """
    following = replace(key, round=key.round + 1)
    deadline = time.monotonic() + linger_s
    while time.monotonic() < deadline:
        open_, cancelled = runs.job_open(key)
        if cancelled or not open_ or runs.jobs_waiting():
            return None
        layer = runs.claim_next(following, me, None)
        if layer is not None:
            return layer
        time.sleep(0.5)
    return None


def _may_win(key: RoundKey, layer: int, score: float) -> bool:
    """Whether no candidate scored so far beats this one (ties go to the lower layer).

    A candidate already beaten can never be the round's winner, so its weights need not be stored;
    the winner itself is always beaten by none, so its weights are always there when the round ends.
    """
    done, _ = runs.progress(key)
    return all((score, -layer) > (d.score, -d.layer) for d in done if d.layer != layer)
