"""Turn a job row into the engine's inputs: fetch uploaded files from storage into the job's work dir."""

from __future__ import annotations

import fnmatch
import shutil
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select

from secateur.kernel.db import session_scope
from secateur.kernel.models import File, Job
from secateur.kernel.settings import Settings
from secateur.kernel.storage import Storage
from secateur.kernel.vocabulary import DEFAULT_BASELINE, FILE_PREFIX, is_hub_id
from worker.pruning.errors import ModelError, TaskError
from worker.pruning.types import Hyperparameters, InputLimits, PruneRequest, TaskSpec

# What a job needs of a hub repo: configs, tokenizer files and safetensors weights, never pickles.
HUB_FILES = ["*.json", "*.safetensors", "*.txt", "*.model"]
# A zip or gzip stream whose size fields or data lie fails in these ways while it is unpacked.
CORRUPT_ARCHIVE = (ValueError, OSError, EOFError, zlib.error, zipfile.BadZipFile, tarfile.TarError)


@dataclass(frozen=True)
class JobInputs:
    """What `prune` needs, read from a job row; plain values so no DB session stays open while it runs."""

    job_id: str
    model: str
    task: dict[str, Any]
    strategy: str
    retention: float
    hyperparameters: dict[str, Any]
    baseline: str = DEFAULT_BASELINE
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


def input_limits(settings: Settings) -> InputLimits:
    """The engine's bounds on models and datasets, from the settings."""
    return InputLimits(
        max_vocab_size=settings.model_max_vocab_size,
        max_hidden_size=settings.model_max_hidden_size,
        max_layers=settings.model_max_layers,
        max_intermediate_size=settings.model_max_intermediate_size,
        max_position_embeddings=settings.model_max_position_embeddings,
        max_row_bytes=settings.max_dataset_row_bytes,
    )


def hub_model_allowed(model: str, allowed: list[str]) -> bool:
    """Whether `allowed` (exact ids or `org/*` patterns; empty allows all) lets a job use `model`."""
    return not allowed or any(fnmatch.fnmatchcase(model, pattern) for pattern in allowed)


def resolve_hub_model(settings: Settings, model: str) -> str:
    """The local snapshot of a hub model, through the hub client and its cache (offline mode included).

    The id is never looked up as a path: a folder of that name in the worker's directory is not used.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    if not is_hub_id(model):
        raise ModelError(f"model {model!r} is not a hub id such as 'org/name'")
    if not hub_model_allowed(model, settings.allowed_hub_models):
        allowed = ", ".join(settings.allowed_hub_models)
        raise ModelError(f"model {model!r} is not allowed on this server; allowed hub models: {allowed}")
    try:
        return str(snapshot_download(model, allow_patterns=HUB_FILES))
    except LocalEntryNotFoundError as exc:
        raise ModelError(
            f"model {model!r} is not in this worker's hub cache and cannot be downloaded"
        ) from exc
    except (HfHubHTTPError, OSError, ValueError) as exc:
        raise ModelError(f"model {model!r} cannot be fetched from the hub: {exc}") from exc


def materialise_model(storage: Storage, settings: Settings, model: str, work_dir: Path) -> str:
    """A local model directory: an uploaded archive unpacked, or a hub model's cached snapshot."""
    if not model.startswith(FILE_PREFIX):
        return resolve_hub_model(settings, model)
    from secateur.kernel.files.extract import safe_extract

    try:
        archive = _fetch_file(storage, model, work_dir / "uploads", "model file")
    except LookupError as exc:
        raise ModelError(str(exc)) from exc
    target = work_dir / "model"
    shutil.rmtree(target, ignore_errors=True)
    try:
        return str(safe_extract(archive, target))
    except CORRUPT_ARCHIVE as exc:
        # The archive module raises ValueError subclasses that already say what is wrong.
        raise ModelError(f"the model archive cannot be unpacked: {exc}") from exc


def build_task(storage: Storage, settings: Settings, task: dict[str, Any], work_dir: Path) -> TaskSpec:
    """The engine's TaskSpec: a built-in task by name, or a custom task whose files are fetched here."""
    name = task.get("name")
    if name:
        from worker.pruning.data.builtin import local_folder, resolve_task_name

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


def prune_request(
    storage: Storage, settings: Settings, inputs: JobInputs, work_dir: Path, device: str
) -> PruneRequest:
    """The engine's request for a job, its model and files fetched into `work_dir`."""
    return PruneRequest(
        model=materialise_model(storage, settings, inputs.model, work_dir),
        task=build_task(storage, settings, inputs.task, work_dir),
        retention=inputs.retention,
        strategy=inputs.strategy,  # type: ignore[arg-type]  # validated by the API
        hyperparameters=hyperparameters(inputs.hyperparameters),
        device=device,
        baseline=inputs.baseline,  # type: ignore[arg-type]  # validated by the API
        allow_weak_baseline=inputs.allow_weak_baseline,
        protected_layers=inputs.protected_layers,
        target_layers=inputs.target_layers,
        latency_runs=settings.latency_runs,
        limits=input_limits(settings),
    )
