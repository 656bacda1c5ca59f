"""A real Celery worker on Redis and PostgreSQL: end to end, bad inputs, cancel, and resume after SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from standardwebhooks import Webhook

from app.client import ApiError, SecateurClient
from secateur.kernel.db import session_scope
from secateur.kernel.models import Job
from secateur.kernel.settings import Settings
from tests.support.webhook_receiver import Receiver, start_receiver
from tests.support.worker_env import API_KEY, OFFLINE, reset_caches
from tests.support.worker_helpers import (
    check_artifact,
    check_resumed,
    events,
    get_job,
    rounds,
    submit,
    upload,
    wait_for,
    wait_for_round_checkpoint,
)

pytestmark = pytest.mark.redis


class CeleryWorker:
    """`celery worker` as the operations guide runs it, in its own process group so it can be SIGKILLed."""

    def __init__(self, env: dict[str, str], log: Path, queues: str = "gpu") -> None:
        self.env, self.log, self.queues = env, log, queues
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start a fresh worker process."""
        command = [
            sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker",
            "-Q", self.queues, "--pool", "prefork", "--concurrency", "1", "--max-tasks-per-child", "1",
            "-n", f"test-{uuid.uuid4().hex[:8]}@%h", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle",
        ]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    def signal(self, sig: int, wait_s: float) -> None:
        """Send `sig` to the worker and its job child, and wait for the worker to exit."""
        assert self.process is not None
        try:
            os.killpg(self.process.pid, sig)
            self.process.wait(wait_s)
        except ProcessLookupError:
            pass

    def alive(self) -> bool:
        """Whether the worker's main process still runs."""
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """Warm shutdown, then SIGKILL if it hangs."""
        try:
            self.signal(signal.SIGTERM, 20)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL, 10)


@dataclass
class Stack:
    """The API client, the worker and the settings they share."""

    client: SecateurClient
    worker: CeleryWorker
    settings: Settings
    receiver: Receiver
    model_id: str
    train_id: str
    validation_id: str

    def submit(self, **hp: Any) -> str:
        """A good job with the shared uploads."""
        return submit(self.client, self.model_id, train=self.train_id, validation=self.validation_id, **hp)


@pytest.fixture(scope="module")
def stack(
    postgres_url: str,
    broker_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    model_archive: Path,
    dataset_files: tuple[Path, Path],
) -> Iterator[Stack]:
    """The API in this process and a Celery worker subprocess, on one database, broker and data dir."""
    data_dir = tmp_path_factory.mktemp("celery-stack")
    env = {
        "SECATEUR_DATABASE_URL": postgres_url,
        "SECATEUR_BROKER_URL": broker_url,
        "SECATEUR_QUEUE": "celery",
        "SECATEUR_DATA_DIR": str(data_dir),
        "SECATEUR_BOOTSTRAP_API_KEY": API_KEY,
        "SECATEUR_DEVICE": "cpu",
        "SECATEUR_HEARTBEAT_S": "0.5",
        "SECATEUR_WEBHOOK_ALLOW_PRIVATE": "true",  # the test's receiver is on loopback
        "SECATEUR_WEBHOOK_RETRY_BASE_S": "0.5",
        "OMP_NUM_THREADS": "1",
        **OFFLINE,
    }
    worker = CeleryWorker({**os.environ, **env}, data_dir / "worker.log")
    # Webhooks have their own queue; in production the maintenance worker takes it.
    deliveries = CeleryWorker({**os.environ, **env}, data_dir / "webhooks.log", queues="webhooks")
    receiver, receiver_server = start_receiver()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        reset_caches()
        from app.main import create_app

        worker.start()
        deliveries.start()
        try:
            with TestClient(create_app()) as http:
                client = SecateurClient(api_key=API_KEY, http=http)
                train, validation = dataset_files
                yield Stack(
                    client,
                    worker,
                    Settings(),
                    receiver,
                    upload(client, model_archive, "model"),
                    upload(client, train, "dataset"),
                    upload(client, validation, "dataset"),
                )
        finally:
            worker.stop()
            deliveries.stop()
            receiver_server.shutdown()
            reset_caches()


def test_a_job_runs_end_to_end_through_the_api(stack: Stack, tmp_path: Path) -> None:
    """Upload, submit, follow the live event stream, rounds, artifact: the pruned model loads."""
    job_id = stack.submit()
    streamed: list[str] = []
    job = stack.client.jobs.wait(job_id, on_event=lambda event: streamed.append(event.type))
    assert job.status == "succeeded" and streamed[-1] == "job.succeeded", streamed
    assert streamed.count("round.finished") == 3
    result = job.result
    assert result is not None and result.layers_removed == 3 and len(result.kept_layers) == 1
    assert job.progress.layers_total == 4 and job.progress.layers_remaining == 1
    recorded = rounds(stack.client, job_id)
    assert [r.round for r in recorded] == [1, 2, 3]
    assert [len(r.candidates) for r in recorded] == [4, 3, 2]
    assert sorted(r.removed_layer or 0 for r in recorded) == sorted(result.removed_layers)
    types = [e.type for e in events(stack.client, job_id)]
    for expected in ("job.started", "baseline.scored", "candidate.scored", "round.finished", "job.succeeded"):
        assert expected in types
    check_artifact(stack.client, job, tmp_path / "pruned")
    # Every accepted depth is downloadable, and the result carries the speed-up measured on the CPU.
    depths = stack.client.json("GET", f"/v1/jobs/{job_id}/artifacts")["data"]
    assert [d["layers"] for d in depths] == [3, 2, 1] and all(d["available"] for d in depths)
    assert depths[-1]["kept_layers"] == result.kept_layers
    assert stack.client.request("GET", depths[0]["url"]).status_code == 200
    latency = result.model_dump()["latency"]  # an extra key the worker writes, passed through
    assert latency["device"].startswith("cpu") and latency["speedup"] > 0
    # The work dir and the checkpoint blob are cleaned up once the job is done.
    assert not (stack.settings.data_dir / "work" / job_id).exists()
    assert not (stack.settings.data_dir / "blobs" / "checkpoints" / f"{job_id}.tar").exists()


def test_webhooks_are_delivered_and_retried_by_a_celery_worker(stack: Stack) -> None:
    """A job's events reach a registered endpoint, signed; a 500 is retried by the task after its backoff."""
    # The client has no webhooks calls yet: its generic request() still adds the key and checks errors.
    hook = {"url": stack.receiver.url, "events": ["job.succeeded"]}
    created = stack.client.request("POST", "/v1/webhooks", json=hook)
    assert created.status_code == 201, created.text
    endpoint = created.json()
    stack.receiver.statuses[:] = [500]
    job_id = stack.submit()
    wait_for(stack.client, job_id, ("succeeded",), timeout_s=120)
    path = f"/v1/webhooks/{endpoint['id']}/deliveries"
    deadline = time.monotonic() + 60
    while (delivery := stack.client.json("GET", path)["data"][0])["status"] != "succeeded":
        assert time.monotonic() < deadline, delivery
        time.sleep(0.5)
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 200]
    body = Webhook(endpoint["secret"]).verify(
        stack.receiver.requests[-1].body, stack.receiver.requests[-1].headers
    )
    assert body["type"] == "job.succeeded" and body["data"]["job"]["id"] == job_id


def test_bad_inputs_fail_with_a_useful_message_and_the_worker_lives_on(
    stack: Stack, broken_model_archive: Path, malformed_csv: Path
) -> None:
    """A broken model and a malformed dataset end `failed` with a code and a message; the next job runs."""
    broken = upload(stack.client, broken_model_archive, "model")
    bad_data = upload(stack.client, malformed_csv, "dataset")
    bad_model_job = submit(stack.client, broken, train=stack.train_id, validation=stack.validation_id)
    bad_data_job = submit(stack.client, stack.model_id, train=bad_data, validation=stack.validation_id)
    good_job = stack.submit()

    failed = wait_for(stack.client, bad_model_job, ("failed",), timeout_s=120)
    assert failed.error is not None and failed.error.code == "invalid_model", failed.error
    failed = wait_for(stack.client, bad_data_job, ("failed",), timeout_s=120)
    assert failed.error is not None and failed.error.code == "invalid_dataset", failed.error
    # It names the upload and the missing column: "file_….csv: no column 'text'; columns present: …".
    assert "'text'" in failed.error.message and bad_data in failed.error.message
    assert str(stack.settings.data_dir) not in failed.error.message
    wait_for(stack.client, good_job, ("succeeded",), timeout_s=120)
    assert stack.worker.alive()


def test_cancel_stops_a_running_job_within_seconds(stack: Stack) -> None:
    """A cancel reaches the job between training steps; it ends `cancelled`, with no artifact."""
    job_id = stack.submit(epochs=20, candidate_epochs=20)
    deadline = time.monotonic() + 120
    while "candidate.scored" not in [e.type for e in events(stack.client, job_id)]:
        assert time.monotonic() < deadline, get_job(stack.client, job_id)
        time.sleep(0.2)
    assert stack.client.jobs.cancel(job_id).status == "cancelling"
    asked = time.monotonic()
    job = wait_for(stack.client, job_id, ("cancelled",), timeout_s=15)
    took = time.monotonic() - asked
    print(f"cancel took {took:.2f} s")
    assert took < 10
    assert job.result is None
    with pytest.raises(ApiError) as no_artifact:
        stack.client.jobs.download(job_id, Path(os.devnull))
    assert no_artifact.value.status == 409
    assert "job.cancelled" in [e.type for e in events(stack.client, job_id)]


def test_a_job_resumes_after_its_worker_is_killed(stack: Stack) -> None:
    """SIGKILL mid-job; the reconciler requeues it, a new worker resumes from the last checkpoint."""
    from worker.reconciler import reconcile

    # Slow enough that rounds 2 and 3 are still ahead when round 1 is seen.
    job_id = stack.submit(candidate_epochs=6)
    wait_for_round_checkpoint(stack.client, job_id, timeout_s=120)
    stack.worker.signal(signal.SIGKILL, 10)
    killed = get_job(stack.client, job_id)
    assert killed.status == "running" and killed.progress.round < 3, "the job ended before the kill"

    stack.worker.start()
    quick = Settings(stale_after_s=1.0)
    deadline = time.monotonic() + 30
    while job_id not in reconcile(settings=quick).requeued:
        assert time.monotonic() < deadline, get_job(stack.client, job_id)
        time.sleep(0.5)
    job = wait_for(stack.client, job_id, ("succeeded",), timeout_s=180)

    assert job.result is not None and job.result.layers_removed == 3
    check_resumed(stack.client, job_id)
    with session_scope() as session:
        assert session.scalar(select(Job.attempts).where(Job.id == job_id)) == 2
