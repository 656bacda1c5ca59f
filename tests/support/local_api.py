"""The API with the local runner on a fresh SQLite database, with a model and a dataset uploaded."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from secateur.kernel.migrate import upgrade_to_head
from tests.support.worker_env import API_KEY, reset_caches


def upload(client: TestClient, path: Path, purpose: str) -> str:
    """Upload one file; returns its id."""
    with path.open("rb") as handle:
        response = client.post("/v1/files", data={"purpose": purpose}, files={"file": (path.name, handle)})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def get_job(client: TestClient, job_id: str) -> dict[str, Any]:
    """The job object, as a dict."""
    response = client.get(f"/v1/jobs/{job_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


@contextmanager
def local_api(
    data_dir: Path, model_archive: Path, dataset_files: tuple[Path, Path], **settings: str
) -> Iterator[tuple[TestClient, list[str]]]:
    """Yield the client and [model, train, validation] ids; `settings` are extra SECATEUR_* values."""
    env = {
        "SECATEUR_DATA_DIR": str(data_dir),
        "SECATEUR_QUEUE": "local",
        "SECATEUR_DEVICE": "cpu",
        "SECATEUR_BOOTSTRAP_API_KEY": API_KEY,
        **settings,
    }
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("SECATEUR_DATABASE_URL", raising=False)
        for name, value in env.items():
            patch.setenv(name, value)
        reset_caches()
        upgrade_to_head()
        from app.main import create_app

        with TestClient(create_app()) as client:
            client.headers["Authorization"] = f"Bearer {API_KEY}"
            train, validation = dataset_files
            files = [upload(client, model_archive, "model")] + [
                upload(client, p, "dataset") for p in (train, validation)
            ]
            yield client, files
        reset_caches()
