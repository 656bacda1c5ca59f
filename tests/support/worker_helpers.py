"""Helpers for the worker tests, on the Python client: upload, submit, wait, and unpack the pruned model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from app.client import SecateurClient
from app.client.models import TERMINAL_STATUSES, EventOut, JobOut, RoundOut

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


def upload(api: SecateurClient, path: Path, purpose: str) -> str:
    """Upload a file and return its id."""
    return api.files.upload(path, "model" if purpose == "model" else "dataset").id


def submit(
    api: SecateurClient,
    model: str,
    *,
    train: str,
    validation: str,
    label_field: str = "label",
    strategy: str = "aglp",
    **hp: Any,
) -> str:
    """Submit a classification job on uploaded files (AGLP unless told); returns the job id."""
    body = {
        "model": model,
        "strategy": strategy,
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
    return api.jobs.submit(body).id


def get_job(api: SecateurClient, job_id: str) -> JobOut:
    """The job object."""
    return api.jobs.get(job_id)


def wait_for(api: SecateurClient, job_id: str, statuses: tuple[str, ...], timeout_s: float) -> JobOut:
    """Poll until the job reaches one of `statuses`; fails with the job's state after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        job = api.jobs.get(job_id)
        if job.status in statuses:
            return job
        if job.status in TERMINAL_STATUSES or time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} did not reach {statuses} in {timeout_s} s: {job}")
        time.sleep(0.2)


def events(api: SecateurClient, job_id: str) -> list[EventOut]:
    """The job's whole event log, oldest first."""
    return list(api.jobs.iter_events(job_id))


def rounds(api: SecateurClient, job_id: str) -> list[RoundOut]:
    """The job's recorded rounds."""
    return api.jobs.rounds(job_id)


def check_artifact(api: SecateurClient, job: JobOut, dest: Path) -> Any:
    """Download the pruned model (sha256-checked by the client), unpack it and load it with transformers."""
    from transformers import AutoModelForSequenceClassification

    assert job.result is not None
    api.jobs.download(job.id, dest.with_suffix(".tar.gz"), unpack_to=dest)
    assert (dest / "pruning_report.json").is_file()
    model = AutoModelForSequenceClassification.from_pretrained(dest)
    assert model.config.num_hidden_layers == len(job.result.kept_layers)
    return model


def wait_for_round_checkpoint(api: SecateurClient, job_id: str, timeout_s: float) -> None:
    """Wait until round 1 is recorded and checkpointed (the baseline's checkpoint comes first)."""
    deadline = time.monotonic() + timeout_s
    while True:
        types = [e.type for e in events(api, job_id)]
        if "round.finished" in types and types.count("job.checkpointed") >= 2:
            return
        assert time.monotonic() < deadline and "job.succeeded" not in types, get_job(api, job_id)
        time.sleep(0.1)


def check_resumed(api: SecateurClient, job_id: str) -> None:
    """The job was started twice, every round is recorded once, and round 1 was not computed again."""
    assert [r.round for r in rounds(api, job_id)] == [1, 2, 3]
    log = events(api, job_id)
    types = [e.type for e in log]
    assert types.count("job.started") == 2 and "job.requeued" in types, types
    resumed_at = max(i for i, e in enumerate(log) if e.type == "job.started")
    assert not [e for e in log[resumed_at:] if e.data.get("round") == 1], log[resumed_at:]
