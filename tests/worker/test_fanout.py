"""Fan-out on two real Celery workers (Redis, PostgreSQL): a round shared out, and a worker lost mid-round."""

from __future__ import annotations

import os
import signal
import tarfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.client import SecateurClient
from secateur.kernel.db import session_scope
from secateur.kernel.models import CandidateRun, CandidateRunStatus, CandidateScore, Job
from tests.support.worker_env import API_KEY, OFFLINE, reset_caches
from tests.support.worker_helpers import FAST, submit, upload, wait_for
from tests.worker.test_celery import CeleryWorker

pytestmark = pytest.mark.redis

# Slow enough per candidate that the second worker's task starts while round 1 still has candidates.
BUDGET = {**FAST, "candidate_epochs": 40}
STALE_AFTER_S = 6.0


@dataclass
class Pair:
    """The API client, two GPU-queue workers and the uploads every job here uses."""

    client: SecateurClient
    workers: list[CeleryWorker]
    ids: tuple[str, str, str]
    model_archive: Path
    dataset_files: tuple[Path, Path]

    def run(self) -> str:
        """Submit the shared job; returns its id."""
        model, train, validation = self.ids
        return submit(self.client, model, train=train, validation=validation, **BUDGET)


@pytest.fixture(scope="module")
def pair(
    postgres_url: str,
    broker_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    model_archive: Path,
    dataset_files: tuple[Path, Path],
) -> Iterator[Pair]:
    """The API in this process and two Celery workers on one database, broker and data dir."""
    data_dir = tmp_path_factory.mktemp("fanout-stack")
    env = {
        "SECATEUR_DATABASE_URL": postgres_url,
        "SECATEUR_BROKER_URL": broker_url,
        "SECATEUR_QUEUE": "celery",
        "SECATEUR_DATA_DIR": str(data_dir),
        "SECATEUR_BOOTSTRAP_API_KEY": API_KEY,
        "SECATEUR_DEVICE": "cpu",
        "SECATEUR_HEARTBEAT_S": "0.5",
        "SECATEUR_STALE_AFTER_S": str(STALE_AFTER_S),
        "SECATEUR_LATENCY_RUNS": "0",
        "OMP_NUM_THREADS": "1",
        **OFFLINE,
    }
    workers = [CeleryWorker({**os.environ, **env}, data_dir / f"worker{i}.log") for i in range(2)]
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        reset_caches()
        from app.main import create_app

        for worker in workers:
            worker.start()
        try:
            with TestClient(create_app()) as http:
                client = SecateurClient(api_key=API_KEY, http=http)
                train, validation = dataset_files
                ids = (
                    upload(client, model_archive, "model"),
                    upload(client, train, "dataset"),
                    upload(client, validation, "dataset"),
                )
                yield Pair(client, workers, ids, model_archive, dataset_files)
        finally:
            for worker in workers:
                worker.stop()
            reset_caches()


def candidate_runs(job_id: str) -> list[CandidateRun]:
    """Every candidate run of the job."""
    with session_scope() as session:
        return list(session.scalars(select(CandidateRun).where(CandidateRun.job_id == job_id)))


def recorded_scores(job_id: str) -> dict[tuple[int, int], float | None]:
    """(round, layer) -> score of the job's candidate_scores rows, checking each is there once."""
    with session_scope() as session:
        rows = session.execute(
            select(CandidateScore.round, CandidateScore.layer, CandidateScore.score).where(
                CandidateScore.job_id == job_id
            )
        ).all()
    keys = [(r.round, r.layer) for r in rows]
    assert len(keys) == len(set(keys)), keys
    return {(r.round, r.layer): r.score for r in rows}


def job_worker(job_id: str) -> str:
    """The host:pid that ran the job itself."""
    with session_scope() as session:
        worker = session.scalar(select(Job.worker).where(Job.id == job_id))
    assert worker is not None
    return worker


def sequential_result(pair: Pair, tmp_path: Path) -> Any:
    """The same job run by the engine in this process, candidates one after another."""
    import torch

    from worker.inputs import hyperparameters
    from worker.pruning.engine import prune
    from worker.pruning.types import PruneRequest, TaskSpec

    with tarfile.open(pair.model_archive) as tar:
        tar.extractall(tmp_path, filter="data")
    train, validation = pair.dataset_files
    task = TaskSpec(
        type="classification",
        train_file=train,
        validation_file=validation,
        text_fields=("text",),
        label_field="label",
    )
    request = PruneRequest(
        model=str(tmp_path / "tiny-bert"),
        task=task,
        retention=0.01,
        strategy="aglp",  # as `submit` asks the service for
        hyperparameters=hyperparameters(BUDGET),
        device="cpu",
        allow_weak_baseline=True,
        latency_runs=0,
    )
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the workers run (OMP_NUM_THREADS=1)
    try:
        return prune(request)
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def reference(pair: Pair) -> str:
    """One job run to the end by the two workers, without interference."""
    job_id = pair.run()
    wait_for(pair.client, job_id, ("succeeded",), timeout_s=300)
    return job_id


def test_two_workers_share_the_rounds_and_match_the_sequential_engine(
    pair: Pair, reference: str, tmp_path: Path
) -> None:
    """Both workers score candidates, each once; rounds and removed layers equal the in-process run."""
    runs = candidate_runs(reference)
    table = [(r.round, r.layer, r.status, r.claims, r.worker) for r in runs]
    assert runs and all(r.status == CandidateRunStatus.DONE and r.claims == 1 for r in runs), table
    assert sorted(len([r for r in runs if r.round == n]) for n in {r.round for r in runs}) == [2, 3, 4]
    helpers = {r.worker for r in runs} - {job_worker(reference)}
    assert helpers, "every candidate ran in the job's own process: the second worker never helped"
    scores = recorded_scores(reference)
    assert scores == {(r.round, r.layer): r.score for r in runs}

    expected = sequential_result(pair, tmp_path)
    job = pair.client.jobs.get(reference)
    assert job.result is not None
    assert job.result.removed_layers == list(expected.removed_layers)
    assert scores == {(rnd.round, c.layer): c.score for rnd in expected.rounds for c in rnd.candidates}


def helper_claim(pair: Pair, job_id: str, timeout_s: float) -> tuple[CeleryWorker, CandidateRun]:
    """Wait until a worker other than the job's holds one of its candidates; (that worker, the row)."""
    deadline = time.monotonic() + timeout_s
    while True:
        assert time.monotonic() < deadline, pair.client.jobs.get(job_id)
        with session_scope() as session:
            owner = session.scalar(select(Job.worker).where(Job.id == job_id))
        for run in candidate_runs(job_id):
            if run.status != CandidateRunStatus.CLAIMED or run.worker in (None, owner):
                continue
            pid = int(run.worker.rsplit(":", 1)[1])
            for worker in pair.workers:
                assert worker.process is not None
                if os.getpgid(pid) == worker.process.pid:
                    return worker, run
        time.sleep(0.1)


def test_cancel_stops_the_job_and_its_helpers(pair: Pair) -> None:
    """A cancel during a shared round ends the job `cancelled`; the helper lets go of its candidate."""
    model, train, validation = pair.ids
    job_id = submit(
        pair.client, model, train=train, validation=validation, **{**BUDGET, "candidate_epochs": 100}
    )
    helper_claim(pair, job_id, timeout_s=180)
    pair.client.jobs.cancel(job_id)
    wait_for(pair.client, job_id, ("cancelled",), timeout_s=20)
    deadline = time.monotonic() + 20
    while any(r.status == CandidateRunStatus.CLAIMED for r in candidate_runs(job_id)):
        assert time.monotonic() < deadline, "a helper kept working on a cancelled job"
        time.sleep(0.2)


def test_a_worker_killed_mid_round_loses_nothing(pair: Pair, reference: str) -> None:
    """SIGKILL the worker holding a candidate: the job's process takes it over; same result, all once."""
    job_id = pair.run()
    worker, lost = helper_claim(pair, job_id, timeout_s=180)
    worker.signal(signal.SIGKILL, 10)

    job = wait_for(pair.client, job_id, ("succeeded",), timeout_s=300)
    runs = candidate_runs(job_id)
    taken_over = next(r for r in runs if (r.round, r.layer) == (lost.round, lost.layer))
    assert taken_over.status == CandidateRunStatus.DONE and taken_over.claims == 2
    assert taken_over.worker == job_worker(job_id)
    assert all(r.status == CandidateRunStatus.DONE for r in runs)
    with session_scope() as session:
        counted = session.scalar(select(func.count()).where(CandidateScore.job_id == job_id))
    assert counted == len(runs) == 9
    assert recorded_scores(job_id) == recorded_scores(reference)
    done = pair.client.jobs.get(reference)
    assert job.result is not None and done.result is not None
    assert job.result.removed_layers == done.result.removed_layers
    assert job.result.kept_layers == done.result.kept_layers
    worker.start()  # leave the pair whole for whatever runs next
