"""Uploads through S3 storage (moto): the archive check runs on a fetched copy, refusals leave nothing."""

from collections.abc import Callable, Iterator
from typing import Any

import httpx2 as httpx  # what starlette.testclient returns
import pytest
from fastapi import FastAPI

from app.api.deps import get_store
from secateur.kernel.storage import S3Storage

BUCKET = "uploads-bucket"


@pytest.fixture
def s3(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Storage]:
    """An S3Storage on a moto bucket, wired into the app."""
    moto = pytest.importorskip("moto")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        storage = S3Storage(BUCKET, prefix="secateur")
        storage.client.create_bucket(Bucket=BUCKET)
        app.dependency_overrides[get_store] = lambda: storage
        yield storage


def _keys(storage: S3Storage) -> list[str]:
    """Every object key in the bucket."""
    return [item["Key"] for item in storage.client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def test_model_upload_to_s3(
    s3: S3Storage, upload: Callable[..., httpx.Response], caller: Any, model_tar: bytes
) -> None:
    """A model archive is checked from a fetched copy and kept in the bucket."""
    response = upload(caller.headers, "model", "tiny.tar.gz", model_tar)
    assert response.status_code == 201, response.text
    assert _keys(s3) == [f"secateur/files/{response.json()['id']}.tar.gz"]


def test_refused_archive_is_deleted_from_s3(
    s3: S3Storage, upload: Callable[..., httpx.Response], caller: Any, tar_gz: Callable[..., bytes]
) -> None:
    """A refused archive is removed from the bucket."""
    payload = tar_gz([("config.json", b"{}"), ("model.safetensors", b"\x00"), ("../x.json", b"{}")])
    response = upload(caller.headers, "model", "evil.tar.gz", payload)
    assert response.status_code == 400 and response.json()["errors"][0]["member"] == "../x.json"
    assert _keys(s3) == []
