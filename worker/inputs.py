"""Turn a job row into the engine's inputs: fetch uploaded files from storage into the job's work dir."""

from __future__ import annotations

import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select

from app.core.config import Settings
from app.core.db import session_scope
from app.core.storage import Storage
from app.models import File, Job
from worker.pruning.errors import ModelError, TaskError
from worker.pruning.types import Hyperparameters, TaskSpec

FILE_PREFIX = "file_"


@dataclass(frozen=True)
class JobInputs:
    """What `prune` needs, read from a job row; plain values so no DB session stays open while it runs."""

    job_id: str
    model: str
    task: dict[str, Any]
    strategy: str
    retention: float
    hyperparameters: dict[str, Any]
    baseline: str = "fine-tune"
    allow_weak_baseline: bool = False
    protected_layers: tuple[int, ...] = ()
    target_layers: int | None = None
    keep_depths: bool = True


def load_inputs(job_id: str) -> JobInputs:
    """Read the job's request fields."""
    with session_scope() as session:
        job = session.get(Job, job_id)
        if job is None:
            raise LookupError(f"job {job_id} does not exist")
        return JobInputs(
            job.id,
            job.model,
            dict(job.task),
            job.strategy,
            job.retention,
            dict(job.hyperparameters),
            baseline=job.baseline,
            allow_weak_baseline=job.allow_weak_baseline,
            protected_layers=tuple(job.protected_layers or ()),
            target_layers=job.target_layers,
            keep_depths=job.keep_depths,
        )


def _fetch_file(storage: Storage, file_id: str, dest_dir: Path, what: str) -> Path:
    """Copy an uploaded file into `dest_dir`, keeping its extension (the engine reads formats by it)."""
    with session_scope() as session:
        row = session.scalars(select(File).where(File.id == file_id)).one_or_none()
        if row is None:
            raise LookupError(f"{what} {file_id} does not exist (deleted after the job was created?)")
        key, filename = row.storage_key, row.filename
    suffixes = PurePosixPath(filename).suffixes
    suffix = "".join(suffixes[-2:] if suffixes[-1:] == [".gz"] else suffixes[-1:])
    dest_dir.mkdir(parents=True, exist_ok=True)
    target = dest_dir / f"{file_id}{suffix}"
    storage.fetch(key, target)
    return target


def materialise_model(storage: Storage, model: str, work_dir: Path) -> str:
    """A local model directory for an uploaded archive; a hub id passes through unchanged."""
    if not model.startswith(FILE_PREFIX):
        return model
    from app.files.archive import safe_extract

    try:
        archive = _fetch_file(storage, model, work_dir / "uploads", "model file")
    except LookupError as exc:
        raise ModelError(str(exc)) from exc
    target = work_dir / "model"
    shutil.rmtree(target, ignore_errors=True)
    try:
        return str(safe_extract(archive, target))
    except (ValueError, OSError, tarfile.TarError) as exc:
        # The archive module raises ValueError subclasses that already say what is wrong.
        raise ModelError(f"the model archive cannot be unpacked: {exc}") from exc


def build_task(storage: Storage, settings: Settings, task: dict[str, Any], work_dir: Path) -> TaskSpec:
    """The engine's TaskSpec: a built-in task by name, or a custom task whose files are fetched here."""
    name = task.get("name")
    if name:
        from worker.pruning.tasks import local_folder, resolve_task_name

        canonical = resolve_task_name(name)
        data_dir = settings.task_data_dir / local_folder(canonical) if settings.task_data_dir else None
        return TaskSpec(name=canonical, data_dir=data_dir, metric=task.get("metric"))
    files: dict[str, Path] = {}
    for field in ("train_file", "validation_file"):
        if not task.get(field):
            raise TaskError(f"a custom task needs task.{field}")
        try:
            files[field] = _fetch_file(storage, task[field], work_dir / "data", f"task.{field}")
        except LookupError as exc:
            raise TaskError(str(exc)) from exc
    return TaskSpec(
        type=task.get("type"),
        train_file=files["train_file"],
        validation_file=files["validation_file"],
        text_fields=tuple(task.get("text_fields") or ()),
        label_field=task.get("label_field"),
        metric=task.get("metric"),
    )


def hyperparameters(values: dict[str, Any]) -> Hyperparameters:
    """The job's hyperparameters; unknown names are a request error, not a crash."""
    try:
        return Hyperparameters(**values)
    except TypeError as exc:
        from worker.pruning.errors import ConfigError

        raise ConfigError(f"bad hyperparameters: {exc}") from exc
