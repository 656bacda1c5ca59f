"""The HTTP side of a chaos trial: inputs, submission, waiting, and what a finished job looks like."""

from __future__ import annotations

import tarfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench.stack import API_KEY
from secateur.kernel.vocabulary import TERMINAL_STATUSES

# A job of a few seconds on one core (the tests' budget), slow enough to be interrupted mid-round.
HYPERPARAMETERS = {"epochs": 1, "candidate_epochs": 2, "repurpose_epochs": 0, "batch_size": 16,
                   "eval_batch_size": 32, "max_length": 32, "learning_rate": 1e-3, "seed": 0}  # fmt: skip
TERMINAL = tuple(TERMINAL_STATUSES)


def inputs(root: Path) -> tuple[Path, Path, Path]:
    """The tests' tiny 4-layer BERT as a .tar.gz, and its keyword task's train and dev CSVs."""
    from tests.support.synthetic import make_model_dir, write_task_files

    model_dir = make_model_dir(root, layers=4)
    archive = root / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_dir, arcname="model")
    spec = write_task_files(root / "data", n_train=128, n_eval=24)
    return archive, spec.train_file, spec.validation_file


def client(base: str) -> httpx.Client:
    """An authorised client."""
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=30)


def upload_all(api: httpx.Client, files: tuple[Path, Path, Path]) -> tuple[str, str, str]:
    """Upload the model and both dataset files; their ids."""
    ids = []
    for path, purpose in zip(files, ("model", "dataset", "dataset"), strict=True):
        with path.open("rb") as handle:
            response = api.post("/v1/files", files={"file": (path.name, handle)}, data={"purpose": purpose})
        response.raise_for_status()
        ids.append(str(response.json()["id"]))
    return ids[0], ids[1], ids[2]


def submit(api: httpx.Client, uploads: tuple[str, str, str], **options: object) -> str:
    """Submit the job every trial runs (retention low enough that every round is played)."""
    model, train, dev = uploads
    task = {"type": "classification", "train_file": train, "validation_file": dev,
            "text_fields": ["text"], "label_field": "label"}  # fmt: skip
    # The tiny model barely learns its keyword task at this budget; the trials measure crashes, not pruning.
    body = {"model": model, "task": task, "retention": 0.01, "hyperparameters": HYPERPARAMETERS,
            "allow_weak_baseline": True, **options}  # fmt: skip
    response = api.post("/v1/jobs", json=body)
    response.raise_for_status()
    return str(response.json()["id"])


def get(api: httpx.Client, path: str, **params: int | str) -> dict[str, Any]:
    """GET `path` as JSON, waiting out restarts, 503s and the per-key rate limit (429) a long run meets."""
    for _ in range(120):
        try:
            response = api.get(path, params=params)
            if response.status_code == 200:
                return dict(response.json())
            wait_s = (
                float(response.headers.get("retry-after", 0.5)) if response.status_code in (429, 503) else 0.5
            )
        except httpx.TransportError:
            wait_s = 0.5
        time.sleep(min(wait_s, 5.0))
    raise RuntimeError(f"the API did not answer GET {path}")


def job(api: httpx.Client, job_id: str) -> dict[str, Any]:
    """The job object."""
    return get(api, f"/v1/jobs/{job_id}")


def wait(api: httpx.Client, job_id: str, statuses: tuple[str, ...], timeout_s: float) -> dict[str, Any]:
    """Poll until the job reaches one of `statuses` (or any terminal one, or the timeout)."""
    deadline = time.monotonic() + timeout_s
    while True:
        current = job(api, job_id)
        if current["status"] in statuses or current["status"] in TERMINAL or time.monotonic() > deadline:
            return current
        time.sleep(0.2)


def candidate_events(api: httpx.Client, job_id: str) -> list[dict[str, Any]]:
    """The job's `candidate.scored` events so far."""
    events = get(api, f"/v1/jobs/{job_id}/events", limit=1000)["data"]
    return [e for e in events if e["type"] == "candidate.scored"]


def outcome(api: httpx.Client, job_id: str, reference: dict[str, Any] | None) -> dict[str, Any]:
    """What the trial checks: status, attempts, rounds recorded once, result equal to the reference."""
    final = job(api, job_id)
    rounds = [r["round"] for r in get(api, f"/v1/jobs/{job_id}/rounds")["data"]]
    events = get(api, f"/v1/jobs/{job_id}/events", limit=1000)["data"]
    result = final.get("result") or {}
    same = None
    if reference is not None and result:
        same = all(result.get(k) == reference.get(k) for k in ("removed_layers", "kept_layers", "score"))
    return {
        "status": final["status"],
        "error": final.get("error"),
        "attempts": sum(1 for e in events if e["type"] == "job.started"),
        "rounds": rounds,
        "rounds_once": rounds == list(range(1, len(rounds) + 1)),
        "equal_to_reference": same,
        "result": {k: result.get(k) for k in ("removed_layers", "kept_layers", "score")} if result else None,
    }
