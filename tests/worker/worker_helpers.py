"""HTTP helpers for the worker tests: upload, submit, wait, and unpack the pruned model."""

from __future__ import annotations

import io
import tarfile
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

# A budget that takes a second or two per job on one core: one epoch everywhere, a high learning rate.
FAST = {
    "epochs": 1,
    "candidate_epochs": 1,
    "repurpose_epochs": 0,
    "batch_size": 16,
    "eval_batch_size": 32,
    "max_length": 32,
    "learning_rate": 1e-3,
}
TERMINAL = ("succeeded", "failed", "cancelled")
# The in-process TestClient (Celery tests) or a real HTTP client (the `serve` test).
Api = httpx.Client | TestClient


def upload(client: Api, path: Path, purpose: str) -> str:
    """Upload a file and return its id."""
    with path.open("rb") as handle:
        response = client.post("/v1/files", files={"file": (path.name, handle)}, data={"purpose": purpose})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def submit(
    client: Api, model: str, train: str, validation: str, label_field: str = "label", **hp: Any
) -> str:
    """Submit a classification job on uploaded files; returns the job id."""
    body = {
        "model": model,
        "task": {
            "type": "classification",
            "train_file": train,
            "validation_file": validation,
            "text_fields": ["text"],
            "label_field": label_field,
        },
        # Low on purpose: every round is accepted, so the job plays all rounds down to one layer.
        "retention": 0.01,
        # The budget is too small for the tiny model to beat chance; these tests exercise the machinery.
        "allow_weak_baseline": True,
        "hyperparameters": {**FAST, **hp},
    }
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def get_job(client: Api, job_id: str) -> dict[str, Any]:
    """The job object."""
    response = client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_for(client: Api, job_id: str, statuses: tuple[str, ...], timeout_s: float) -> dict[str, Any]:
    """Poll until the job reaches one of `statuses`; fails with the job's state after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = get_job(client, job_id)
        if job["status"] in statuses:
            return job
        if job["status"] in TERMINAL or time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not reach {statuses} in {timeout_s} s: {job}")
        time.sleep(0.2)


def events(client: Api, job_id: str) -> list[dict[str, Any]]:
    """The job's whole event log, oldest first."""
    response = client.get(f"/v1/jobs/{job_id}/events", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def rounds(client: Api, job_id: str) -> list[dict[str, Any]]:
    """The job's recorded rounds."""
    response = client.get(f"/v1/jobs/{job_id}/rounds")
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def check_artifact(client: Api, job: dict[str, Any], dest: Path) -> Any:
    """Download the pruned model, check its digest and layer count, and load it with transformers."""
    import hashlib

    from transformers import AutoModelForSequenceClassification

    response = client.get(f"/v1/jobs/{job['id']}/artifact", follow_redirects=True)
    assert response.status_code == 200, response.text
    assert hashlib.sha256(response.content).hexdigest() == job["result"]["artifact"]["sha256"]
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        tar.extractall(dest, filter="data")
    assert (dest / "pruning_report.json").is_file()
    model = AutoModelForSequenceClassification.from_pretrained(dest)
    assert model.config.num_hidden_layers == len(job["result"]["kept_layers"])
    return model


def wait_for_round_checkpoint(client: Api, job_id: str, timeout_s: float) -> None:
    """Wait until round 1 is recorded and checkpointed (the baseline's checkpoint comes first)."""
    deadline = time.monotonic() + timeout_s
    while True:
        types = [e["type"] for e in events(client, job_id)]
        if "round.finished" in types and types.count("job.checkpointed") >= 2:
            return
        assert time.monotonic() < deadline and "job.succeeded" not in types, get_job(client, job_id)
        time.sleep(0.1)


def check_resumed(client: Api, job_id: str) -> None:
    """The job was started twice, every round is recorded once, and round 1 was not computed again."""
    assert [r["round"] for r in rounds(client, job_id)] == [1, 2, 3]
    log = events(client, job_id)
    types = [e["type"] for e in log]
    assert types.count("job.started") == 2 and "job.requeued" in types, types
    resumed_at = max(i for i, e in enumerate(log) if e["type"] == "job.started")
    assert not [e for e in log[resumed_at:] if e["data"].get("round") == 1], log[resumed_at:]
