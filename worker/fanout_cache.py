"""A candidate task's files: the job's inputs and each round's start model kept here; candidates shared.

The kept files live in the job's work dir, so they go with the job's other files once it ends.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from secateur.kernel.settings import Settings
from secateur.kernel.storage import Storage
from worker.blobs import pack, unpack
from worker.candidate_runs import RoundKey
from worker.inputs import load_inputs, prune_request
from worker.job_runner import pick_device
from worker.pruning.types import Hyperparameters, InputLimits, PruneRequest, TaskSpec
from worker.reconciler import work_dir

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from worker.pruning.resume import Slot
    from worker.pruning.strategies import Context


def round_prefix(key: RoundKey) -> str:
    """Where a round's shared files live in storage."""
    return f"fanout/{key.job_id}/a{key.attempt}-r{key.round}"


@contextmanager
def cached(folder: Path) -> Iterator[bool]:
    """Hold `folder`'s lock; yields whether it is ready (otherwise the caller fills it, then it is marked)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with (folder.parent / f"{folder.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        ready = (folder / ".ready").is_file()
        if not ready:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
        yield ready
        (folder / ".ready").touch()


def job_request(job_id: str, settings: Settings, storage: Storage) -> PruneRequest:
    """The job's request with its inputs fetched once per machine into the job's work dir."""
    folder = work_dir(settings, job_id) / "fanout" / "inputs"
    with cached(folder) as ready:
        if not ready:
            request = prune_request(storage, settings, load_inputs(job_id), folder, pick_device(settings))
            (folder / "request.json").write_text(json.dumps(asdict(request), default=str))
    raw = json.loads((folder / "request.json").read_text())
    task: dict[str, Any] = dict(raw["task"])
    for name in ("data_dir", "train_file", "validation_file"):
        task[name] = Path(task[name]) if task[name] else None
    plain = {
        k: v for k, v in raw.items() if k not in ("task", "hyperparameters", "limits", "protected_layers")
    }
    return PruneRequest(
        **plain,
        task=TaskSpec(**{**task, "text_fields": tuple(task["text_fields"])}),
        hyperparameters=Hyperparameters(**raw["hyperparameters"]),
        limits=InputLimits(**raw["limits"]),
        protected_layers=tuple(raw["protected_layers"]),
    )


def start_model(key: RoundKey, ctx: Context, settings: Settings, storage: Storage) -> Slot:
    """The round's start model, downloaded once per machine into the job's work dir."""
    from worker.pruning.replay import load_start

    folder = work_dir(settings, key.job_id) / "fanout" / f"a{key.attempt}-r{key.round}"
    with cached(folder) as ready:
        if not ready:
            storage.fetch(f"{round_prefix(key)}/start.tar", folder.with_suffix(".tar"))
            unpack(folder.with_suffix(".tar"), folder)
            folder.with_suffix(".tar").unlink()
    return load_start(folder / "model", json.loads((folder / "kept.json").read_text()), ctx)


def upload_model(storage: Storage, key: RoundKey, layer: int, model: PreTrainedModel, work: Path) -> None:
    """Store a fine-tuned candidate in the round's shared files, so the job can keep it if it wins."""
    folder = work / "fanout" / f"a{key.attempt}-r{key.round}-layer-{layer}"
    shutil.rmtree(folder, ignore_errors=True)
    model.save_pretrained(folder, safe_serialization=True)
    tarball = folder.with_suffix(".tar")
    pack(folder, tarball, compress=False)
    storage.put_file(f"{round_prefix(key)}/layer-{layer}.tar", tarball)
    tarball.unlink()
    shutil.rmtree(folder, ignore_errors=True)
