"""`secateur serve` on SQLite with the local runner: a job end to end, then a clean Ctrl-C."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook

from tests.support.serve_process import Serve
from tests.support.webhook_receiver import start_receiver
from tests.support.worker_helpers import (
    check_artifact,
    check_resumed,
    submit,
    upload,
    wait_for,
    wait_for_round_checkpoint,
)


def test_serve_runs_jobs_on_sqlite_and_resumes_them_after_a_restart(
    tmp_path: Path, model_archive: Path, dataset_files: tuple[Path, Path]
) -> None:
    """No Redis, no PostgreSQL: a job end to end; Ctrl-C mid-job requeues it and the next start resumes it."""
    data_dir = tmp_path / "data"
    serve = Serve(tmp_path, data_dir)
    serve.env["SECATEUR_WEBHOOK_ALLOW_PRIVATE"] = "true"  # the receiver is on loopback
    receiver, receiver_server = start_receiver()
    with serve as api:
        assert (data_dir / "api-key").read_text().strip() == serve.key
        assert (data_dir / "api-key").stat().st_mode & 0o777 == 0o600
        assert (data_dir / "secateur.db").is_file()
        train, validation = dataset_files
        model = upload(api, model_archive, "model")
        files = {"train": upload(api, train, "dataset"), "validation": upload(api, validation, "dataset")}
        hook = api.json("POST", "/v1/webhooks", json={"url": receiver.url})
        job = wait_for(api, submit(api, model, **files), ("succeeded",), timeout_s=180)
        assert job.result is not None and job.result.layers_removed == 3
        check_artifact(api, job, tmp_path / "pruned")
        # The local runner's delivery thread sent every subscribed event, signed with the secret.
        expected = ["baseline.scored", "round.finished", "round.finished", "round.finished", "job.succeeded"]
        assert wait_for_deliveries(api, hook["id"], len(expected)) == expected
        received = [Webhook(hook["secret"]).verify(r.body, r.headers)["type"] for r in receiver.requests]
        assert sorted(received) == sorted(expected)

        slow = submit(api, model, **files, candidate_epochs=6)
        wait_for_round_checkpoint(api, slow, timeout_s=120)
        serve.stop()

    restarted = Serve(tmp_path, data_dir)
    with restarted as api:
        assert restarted.key == serve.key  # the generated key is kept and reused
        resumed = wait_for(api, slow, ("succeeded",), timeout_s=180)
        assert resumed.result is not None and resumed.result.layers_removed == 3
        check_resumed(api, slow)
        restarted.stop()
    receiver_server.shutdown()


def wait_for_deliveries(api: Any, endpoint_id: str, count: int, timeout_s: float = 30) -> list[str]:
    """The event types of the endpoint's deliveries, oldest first, once `count` have succeeded."""
    deadline = time.monotonic() + timeout_s
    while True:
        data = api.json("GET", f"/v1/webhooks/{endpoint_id}/deliveries", params={"limit": 100})["data"]
        if sum(d["status"] == "succeeded" for d in data) >= count or time.monotonic() > deadline:
            return [d["type"] for d in reversed(data) if d["status"] == "succeeded"]
        time.sleep(0.3)
