"""Through the API and the worker's `run_job` (as the local runner and Celery call it), on SQLite.

The weak-baseline guard, its override and warnings, layer constraints, every accepted depth
downloadable within the storage bound, and the measured latency in the result.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from transformers import AutoModelForSequenceClassification

from tests.support.local_api import get_job, local_api
from tests.support.worker_helpers import FAST
from worker.job_runner import run_job


@pytest.fixture(scope="module")
def api(
    tmp_path_factory: pytest.TempPathFactory, model_archive: Path, dataset_files: tuple[Path, Path]
) -> Iterator[tuple[TestClient, list[str]]]:
    """The API on a fresh SQLite database and local storage, with the model and dataset uploaded."""
    settings = {
        "SECATEUR_LATENCY_RUNS": "1",
        # Smaller than one tiny model's archive: every depth but the newest is dropped.
        "SECATEUR_MAX_DEPTH_ARTIFACTS_BYTES": "1",
    }
    with local_api(tmp_path_factory.mktemp("options"), model_archive, dataset_files, **settings) as api:
        yield api


# Raw requests on the TestClient (not yet on app.client): these tests read the job as a dict.
def events(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    """The job's whole event log, oldest first."""
    response = client.get(f"/v1/jobs/{job_id}/events", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


def _run(client: TestClient, files: list[str], **options: Any) -> dict[str, Any]:
    """Submit a job with `options` and the shared test budget, run it here as a worker would, return it."""
    model, train, validation = files
    task = {"type": "classification", "train_file": train, "validation_file": validation}
    body = {
        "model": model,
        "task": {**task, "text_fields": ["text"], "label_field": "label"},
        "retention": 0.01,
        "hyperparameters": FAST,
        **options,
    }
    response = client.post("/v1/jobs", json=body)
    assert response.status_code == 201, response.text
    run_job(response.json()["id"])
    return get_job(client, response.json()["id"])


def test_a_baseline_that_did_not_learn_fails_the_job(api: tuple[TestClient, list[str]]) -> None:
    """The tiny budget leaves the full model below chance: the job fails at once, saying what to try."""
    client, files = api
    job = _run(client, files, allow_weak_baseline=False)
    assert job["status"] == "failed", job
    assert job["error"]["code"] == "baseline_not_learned"
    for words in ("chance is", "epochs", "learning_rate", "allow_weak_baseline"):
        assert words in job["error"]["message"]
    types = [e["type"] for e in events(client, job["id"])]
    assert "baseline.scored" in types and "round.finished" not in types


def test_the_override_keeps_every_depth_reports_latency_and_warns(
    api: tuple[TestClient, list[str]], tmp_path: Path
) -> None:
    """Protected layer 0 and target 2: depths 3 and 2 are accepted, the older dropped for space."""
    client, files = api
    job = _run(client, files, allow_weak_baseline=True, protected_layers=[0], target_layers=2)
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert len(result["kept_layers"]) == 2 and 0 in result["kept_layers"]
    # Retention 0.01 puts the threshold far below chance (0.75): a warning, not a failure.
    assert {"weak_baseline", "threshold_at_chance"} <= {w["code"] for w in result["warnings"]}
    assert "weak_baseline" in [w["code"] for w in job["warnings"]]
    assert any(e["type"] == "job.warning" for e in events(client, job["id"]))
    latency = result["latency"]
    assert latency["device"].startswith("cpu") and latency["runs"] == 1 and latency["batch_size"] == 16
    assert latency["speedup"] == pytest.approx(latency["full_ms"] / latency["pruned_ms"])

    listing = client.get(f"/v1/jobs/{job['id']}/artifacts").json()["data"]
    assert [(d["layers"], d["available"]) for d in listing] == [(3, False), (2, True)]
    assert any(e["type"] == "depth.dropped" for e in events(client, job["id"]))
    last = listing[-1]
    assert last["kept_layers"] == result["kept_layers"] and last["latency_ms"] > 0
    download = client.get(last["url"])
    assert download.status_code == 200 and hashlib.sha256(download.content).hexdigest() == last["sha256"]
    with tarfile.open(fileobj=io.BytesIO(download.content), mode="r:gz") as tar:
        tar.extractall(tmp_path, filter="data")
    assert AutoModelForSequenceClassification.from_pretrained(tmp_path).config.num_hidden_layers == 2
    assert client.get(f"/v1/jobs/{job['id']}/artifacts/3").status_code == 410


def test_a_protected_layer_the_model_lacks_fails_the_job_naming_it(api: tuple[TestClient, list[str]]) -> None:
    """The 4-layer model has no layer 7: known only once the worker loads it."""
    client, files = api
    job = _run(client, files, protected_layers=[7])
    assert job["status"] == "failed" and job["error"]["code"] == "invalid_request"
    assert "protected_layers [7] are out of range: the model has 4 layers" in job["error"]["message"]
