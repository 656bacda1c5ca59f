"""Checkpoints travel through storage (S3 here, via moto), and errors map to codes that say what to fix."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from secateur.kernel.settings import Settings
from secateur.kernel.storage import S3Storage, Storage
from worker.blobs import checkpoint_key, restore_checkpoint, upload_checkpoint
from worker.job_runner import classify
from worker.pruning.errors import TaskError


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Storage]:
    """An S3 bucket in moto's in-memory AWS."""
    moto = pytest.importorskip("moto")
    for name, value in {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with moto.mock_aws():
        storage = S3Storage("secateur-test", prefix="deploy")
        storage.client.create_bucket(Bucket="secateur-test")
        yield storage


def write_step(work: Path, rounds: int) -> None:
    """A checkpoint dir like the engine's: one `step-NNNN` folder with its state and a model file."""
    step = work / "checkpoint" / f"step-{rounds:04d}"
    step.mkdir(parents=True)
    (step / "state.json").write_text(json.dumps({"rounds": [{"round": r + 1} for r in range(rounds)]}))
    (step / "model-current").mkdir()
    (step / "model-current" / "model.safetensors").write_bytes(b"weights of round %d" % rounds)


def test_a_checkpoint_uploaded_on_one_machine_resumes_on_another(s3: Storage, tmp_path: Path) -> None:
    """Machine A uploads after round 2; machine B, with nothing local, restores round 2 exactly."""
    machine_a, machine_b = tmp_path / "a", tmp_path / "b"
    write_step(machine_a, 2)
    upload_checkpoint(s3, "job_1", machine_a)
    assert s3.exists(checkpoint_key("job_1"))

    assert restore_checkpoint(s3, "job_1", machine_b) == 2
    restored = machine_b / "checkpoint" / "step-0002" / "model-current" / "model.safetensors"
    assert restored.read_bytes() == b"weights of round 2"


def test_the_stored_checkpoint_wins_over_an_older_local_one(s3: Storage, tmp_path: Path) -> None:
    """A machine that ran rounds 0-1 earlier must not resume from its stale local copy."""
    newer, older = tmp_path / "newer", tmp_path / "older"
    write_step(newer, 3)
    upload_checkpoint(s3, "job_2", newer)
    write_step(older, 1)
    assert restore_checkpoint(s3, "job_2", older) == 3
    assert [p.name for p in (older / "checkpoint").iterdir()] == ["step-0003"]


def test_no_checkpoint_means_start_from_scratch(s3: Storage, tmp_path: Path) -> None:
    """Nothing stored and nothing local: zero finished rounds."""
    assert restore_checkpoint(s3, "job_3", tmp_path / "fresh") == 0


def test_errors_become_codes_that_say_what_to_fix() -> None:
    """Engine errors keep their code; OOM and time limits get advice; the rest hides its details."""
    import torch
    from celery.exceptions import SoftTimeLimitExceeded

    settings = Settings(_env_file=None, task_time_limit_s=3600)
    assert classify(TaskError("train.csv: no column 'text'"), settings) == (
        "invalid_dataset",
        "train.csv: no column 'text'",
    )
    code, message = classify(torch.cuda.OutOfMemoryError("CUDA out of memory"), settings)
    assert code == "out_of_memory" and "batch_size" in message and "max_length" in message
    code, message = classify(SoftTimeLimitExceeded(), settings)
    assert code == "time_limit" and "3600" in message
    code, message = classify(KeyError("secret internals"), settings)
    assert code == "internal_error" and "secret" not in message and "KeyError" in message
