"""API test factories: archives, uploads and job rows arranged directly in the database."""

import io
import json
import tarfile
import zipfile
from collections.abc import Callable
from typing import Any

import httpx2 as httpx  # what starlette.testclient returns
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from app.client import SecateurClient
from app.jobs.events import EventHub, get_event_hub
from secateur.kernel.models import Job
from tests.support.tiny_safetensors import model_files

MODEL_FILES = model_files()


def build_tar_gz(
    entries: list[tuple[str, bytes]], links: dict[str, tuple[bytes, str]] | None = None
) -> bytes:
    """A .tar.gz with regular files, plus `links` {name: (tar type, target)} for link/device entries."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, payload in entries:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        for name, (kind, target) in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, target
            tar.addfile(info)
    return buffer.getvalue()


def build_zip(entries: list[tuple[str, bytes]], symlinks: dict[str, str] | None = None) -> bytes:
    """A deflated .zip with regular files, plus Unix symlink entries {name: target}."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, payload in entries:
            archive.writestr(name, payload)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16  # S_IFLNK: a Unix symlink
            archive.writestr(info, target)
    return buffer.getvalue()


@pytest.fixture
def upload(client: TestClient) -> Callable[..., httpx.Response]:
    """POST /v1/files with a file and a purpose."""

    def _upload(headers: dict[str, str], purpose: str, filename: str, content: bytes) -> httpx.Response:
        """Send one multipart upload."""
        files = {"file": (filename, content, "application/octet-stream")}
        return client.post("/v1/files", headers=headers, files=files, data={"purpose": purpose})

    return _upload


@pytest.fixture
def dataset_id(upload: Callable[..., httpx.Response], caller: Any) -> str:
    """An uploaded CSV dataset of the default caller."""
    response = upload(caller.headers, "dataset", "train.csv", b"sentence,label\nnice film,1\nbad film,0\n")
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.fixture
def make_job(db_session: Session) -> Callable[..., Job]:
    """Insert a job row directly (any status), as a worker would have left it."""

    def _make(owner_id: str, **fields: Any) -> Job:
        """Insert and commit a job row with defaults overridden by `fields`."""
        values: dict[str, Any] = {
            "model": "prajjwal1/bert-tiny",
            "task": {"name": "rte"},
            "strategy": "aglp",
            "retention": 0.95,
            "hyperparameters": {"epochs": 1},
            "metadata_": {},
        }
        values.update(fields)
        job = Job(owner_id=owner_id, **values)
        db_session.add(job)
        db_session.commit()
        return job

    return _make


@pytest.fixture
def job_body() -> Callable[..., dict[str, Any]]:
    """A valid POST /v1/jobs body with a built-in task, with fields overridden."""

    def _body(**overrides: Any) -> dict[str, Any]:
        """A fresh body with `overrides` applied."""
        body: dict[str, Any] = {"model": "prajjwal1/bert-tiny", "task": {"name": "rte"}, "retention": 0.9}
        body.update(overrides)
        return json.loads(json.dumps(body))  # a deep copy, so tests may mutate it

    return _body


@pytest.fixture
def tar_gz() -> Callable[..., bytes]:
    """The .tar.gz builder."""
    return build_tar_gz


@pytest.fixture
def zip_bytes() -> Callable[..., bytes]:
    """The .zip builder."""
    return build_zip


@pytest.fixture
def model_tar() -> bytes:
    """A minimal valid model archive (config.json + safetensors inside one top-level folder)."""
    return build_tar_gz([(f"tiny/{name}", payload) for name, payload in MODEL_FILES])


@pytest.fixture
def api(client: TestClient, caller: Any) -> SecateurClient:
    """The Python client on the in-process app, as the default caller; retries never sleep."""
    secret = caller.headers["Authorization"].removeprefix("Bearer ")
    return SecateurClient(api_key=secret, http=client, sleep=lambda _s: None)


@pytest.fixture
def event_hub(app: FastAPI, session_factory: sessionmaker[Session]) -> EventHub:
    """The app's event hub, polling only when woken (nudge) so tests never wait on a clock."""
    hub = EventHub(session_factory, interval_s=3600, ping_s=3600)
    app.dependency_overrides[get_event_hub] = lambda: hub
    return hub


@pytest.fixture
def live_server(app: Any, settings: Any) -> Any:
    """Serve the test app over real HTTP with the server options `secateur serve` uses; yields its URL."""
    import socket
    import threading
    import time

    import uvicorn

    from app.core.server import server_options

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", **server_options(settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
