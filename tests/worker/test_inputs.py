"""What a job's `model` may reach: hub ids through the hub client only, and unpackable archives only."""

from __future__ import annotations

import os
import shutil
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from huggingface_hub import constants

import worker.inputs
from secateur.kernel.settings import Settings
from secateur.kernel.storage import LocalStorage
from tests.support.synthetic import make_model_dir
from worker.inputs import materialise_model
from worker.pruning.errors import ModelError

SETTINGS = Settings(_env_file=None)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty hub cache (the tests run offline), and the worker's cwd in a fresh folder."""
    cache = tmp_path / "hub-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.chdir(tmp_path)
    return cache


def cache_model(cache: Path, repo_id: str, source: Path) -> Path:
    """Lay out `source` in the cache as the hub client does: refs/main -> snapshots/<commit>."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    shutil.copytree(source, repo / "snapshots" / COMMIT)
    return repo / "snapshots" / COMMIT


def resolve(model: str, tmp_path: Path, settings: Settings = SETTINGS) -> str:
    """The local model directory a job would load for `model`."""
    return materialise_model(LocalStorage(tmp_path / "blobs"), settings, model, tmp_path / "work")


@pytest.mark.parametrize("name", ["operator-model", "org/operator-model"])
def test_a_folder_named_like_the_hub_id_in_the_workers_cwd_is_never_loaded(
    hub_cache: Path, tmp_path: Path, name: str
) -> None:
    """`secateur prune --out operator-model` left a model here; another tenant's job names it."""
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    make_model_dir(tmp_path, "bert").rename(tmp_path / name)
    with pytest.raises(ModelError, match="not in this worker's hub cache"):
        resolve(name, tmp_path)


def test_a_file_named_like_the_hub_id_is_not_read_either(hub_cache: Path, tmp_path: Path) -> None:
    """`"model": "server.log"` says nothing about the file, only that no such hub model is cached."""
    (tmp_path / "server.log").write_text("secret log lines")
    with pytest.raises(ModelError, match="not in this worker's hub cache") as caught:
        resolve("server.log", tmp_path)
    assert "JSON" not in str(caught.value)


def test_a_cached_hub_model_resolves_to_its_snapshot(hub_cache: Path, tmp_path: Path) -> None:
    """Offline, the id maps to the cache's snapshot of the model, not to anything in the cwd."""
    snapshot = cache_model(hub_cache, "org/tiny", make_model_dir(tmp_path / "src", "bert"))
    make_model_dir(tmp_path / "org", "bert").rename(tmp_path / "org" / "tiny")
    assert Path(resolve("org/tiny", tmp_path)) == snapshot


@pytest.mark.parametrize("model", ["../models/x", "/etc/passwd", "./model", "~/model", "a/b/c", "org/name\n"])
def test_path_like_models_are_refused(hub_cache: Path, tmp_path: Path, model: str) -> None:
    """Only the org/name shape reaches the hub client."""
    with pytest.raises(ModelError, match="is not a hub id"):
        resolve(model, tmp_path)


def test_only_allowed_hub_models_are_resolved(hub_cache: Path, tmp_path: Path) -> None:
    """`allowed_hub_models` takes exact ids and `org/*`; anything else is refused by name."""
    cache_model(hub_cache, "org/tiny", make_model_dir(tmp_path / "src", "bert"))
    cache_model(hub_cache, "other/tiny", make_model_dir(tmp_path / "src2", "bert"))
    settings = Settings(_env_file=None, allowed_hub_models=["org/*", "vendor/exact"])
    assert resolve("org/tiny", tmp_path, settings).endswith(COMMIT)
    with pytest.raises(ModelError, match=r"'other/tiny' is not allowed on this server.*org/\*, vendor/exact"):
        resolve("other/tiny", tmp_path, settings)


def zip_model(tmp_path: Path) -> Path:
    """A model zip that passes the upload checks: config.json and deflated safetensors bytes."""
    path = tmp_path / "model.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("config.json", '{"model_type": "bert"}')
        archive.writestr("model.safetensors", os.urandom(100) + bytes(5000))
    return path


def _flip_data(data: bytearray) -> None:
    """Corrupt the deflated bytes of model.safetensors."""
    start = data.find(b"model.safetensors") + len("model.safetensors") + 20
    for i in range(start, start + 40):
        data[i] ^= 0xFF


def _lie(offset: int, value: int) -> Callable[[bytearray], None]:
    """Overwrite a size field of model.safetensors's central directory entry."""

    def edit(data: bytearray) -> None:
        entry = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)
        struct.pack_into("<I", data, entry + offset, value)

    return edit


@pytest.mark.parametrize(
    "corrupt",
    [_flip_data, _lie(24, 10), _lie(20, 20)],
    ids=["bad-deflate-data", "uncompressed-size-lies", "compressed-size-lies"],
)
def test_a_zip_whose_sizes_or_data_lie_is_an_invalid_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, corrupt: Callable[[bytearray], None]
) -> None:
    """zlib.error and BadZipFile while unpacking end the job `invalid_model`, not `internal_error`."""
    archive = zip_model(tmp_path)
    data = bytearray(archive.read_bytes())
    corrupt(data)
    archive.write_bytes(bytes(data))
    monkeypatch.setattr(worker.inputs, "_fetch_file", lambda *_args: archive)
    with pytest.raises(ModelError, match="the model archive cannot be unpacked"):
        resolve("file_corrupt", tmp_path)
