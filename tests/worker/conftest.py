"""Fixtures for the worker tests: a tiny model archive, keyword datasets, PostgreSQL, Redis and settings."""

from __future__ import annotations

import os
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from secateur.kernel.migrate import upgrade_to_head
from secateur.kernel.settings import Settings
from tests.support.services import empty_postgres_database, unavailable
from tests.support.synthetic import tiny_config, tiny_tokenizer, write_task_files
from tests.support.worker_env import reset_caches

REDIS_URL = os.environ.get("SECATEUR_TEST_REDIS_URL", "redis://127.0.0.1:6379")


@pytest.fixture(scope="session")
def model_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 4-layer, hidden-32 BERT with its tokenizer, packed as a .tar.gz."""
    import torch
    from transformers import AutoModel

    root = tmp_path_factory.mktemp("model")
    torch.manual_seed(0)
    model_dir = root / "tiny-bert"
    AutoModel.from_config(tiny_config("bert", layers=4)).save_pretrained(model_dir, safe_serialization=True)
    tiny_tokenizer().save_pretrained(model_dir)
    archive = root / "tiny-bert.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(model_dir, arcname="tiny-bert")
    return archive


@pytest.fixture(scope="session")
def broken_model_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive that passes the upload checks (config and weights agree) but cannot be built:
    its hidden size does not divide into its attention heads, which only loading finds out."""
    import json

    from transformers import AutoModel

    root = tmp_path_factory.mktemp("broken") / "broken"
    AutoModel.from_config(tiny_config("bert", layers=2)).save_pretrained(root, safe_serialization=True)
    config = json.loads((root / "config.json").read_text())
    config["num_attention_heads"] = config["hidden_size"] + 1
    (root / "config.json").write_text(json.dumps(config))
    archive = root.parent / "broken.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("config.json", "model.safetensors"):
            tar.add(root / name, arcname=name)
    return archive


@pytest.fixture(scope="session")
def dataset_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A learnable keyword task as train/validation CSVs (columns `text`, `label`)."""
    spec = write_task_files(tmp_path_factory.mktemp("data"), n_train=128, n_eval=24)
    return spec.train_file, spec.validation_file


@pytest.fixture(scope="session")
def malformed_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CSV without the `label` column the job names."""
    path = tmp_path_factory.mktemp("bad") / "train.csv"
    path.write_text("sentence,target\nw1 w2 good,yes\nw3 w4,no\nw5 good,yes\n")
    return path


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database migrated to head, dropped after the module."""
    with empty_postgres_database("secateur_worker") as url:
        try:
            upgrade_to_head(url)
            yield url
        finally:
            reset_caches()


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    """A Redis database no other test run is using: databases 8-15 are leased with SET NX."""
    token = uuid.uuid4().hex
    for number in range(8, 16):
        url = f"{REDIS_URL}/{number}"
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        try:
            # The lease expires on its own, so a crashed run cannot hold a database forever.
            if client.set("secateur-test-lease", token, nx=True, ex=900):
                client.flushdb()
                client.set("secateur-test-lease", token, ex=900)
                try:
                    yield url
                finally:
                    client.flushdb()
                    client.close()
                return
        except redis.RedisError as exc:
            client.close()
            unavailable(f"Redis is unreachable at {REDIS_URL} ({type(exc).__name__})")
        client.close()
    unavailable("every Redis database 8-15 is leased by another test run")


@pytest.fixture
def local_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A migrated SQLite database under tmp_path, as the process-wide database."""
    monkeypatch.setenv("SECATEUR_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SECATEUR_QUEUE", "local")
    monkeypatch.delenv("SECATEUR_DATABASE_URL", raising=False)
    reset_caches()
    upgrade_to_head()
    yield Settings(stale_after_s=60, max_attempts=2, cancel_grace_s=30)
    reset_caches()
