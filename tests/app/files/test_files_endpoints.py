"""POST/GET/DELETE /v1/files: uploads, checks, limits, pagination and key isolation."""

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx2 as httpx  # what starlette.testclient returns
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from secateur.kernel.settings import Settings
from secateur.kernel.storage import Storage

Upload = Callable[..., httpx.Response]
CSV = b"sentence,label\nnice film,1\nbad film,0\n"


def _blobs(tmp_path: Path) -> list[Path]:
    """Every stored blob under the test's storage root."""
    return [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]


def test_upload_a_dataset(upload: Upload, caller: Any, storage: Storage) -> None:
    """A CSV upload is stored and described with its size, sha256 and UTC time."""
    response = upload(caller.headers, "dataset", "train.csv", CSV)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["id"].startswith("file_") and body["purpose"] == "dataset"
    assert body["filename"] == "train.csv" and body["bytes"] == len(CSV)
    assert body["sha256"] == hashlib.sha256(CSV).hexdigest()
    assert body["created_at"].endswith(("Z", "+00:00"))
    assert storage.exists(f"files/{body['id']}.csv")


def test_upload_a_model_archive(upload: Upload, caller: Any, model_tar: bytes) -> None:
    """A valid model archive is accepted."""
    response = upload(caller.headers, "model", "tiny.tar.gz", model_tar)
    assert response.status_code == 201, response.text
    assert response.json()["bytes"] == len(model_tar)


@pytest.mark.parametrize(
    ("entries", "member"),
    [
        ([("/abs/config.json", b"{}")], "/abs/config.json"),
        ([("../config.json", b"{}")], "../config.json"),
        ([("pytorch_model.bin", b"\x80\x02")], "pytorch_model.bin"),
    ],
)
def test_a_malicious_archive_is_a_400_naming_the_member(
    upload: Upload,
    caller: Any,
    tar_gz: Callable[..., bytes],
    tmp_path: Path,
    entries: list[tuple[str, bytes]],
    member: str,
) -> None:
    """Unsafe archives are a 400 naming the member, and their blob is deleted."""
    payload = tar_gz([("config.json", b"{}"), ("model.safetensors", b"\x00"), *entries])
    response = upload(caller.headers, "model", "evil.tar.gz", payload)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["type"] == "urn:secateur:problem:invalid-archive"
    assert member in body["detail"] and body["errors"][0]["member"] == member
    assert _blobs(tmp_path) == []  # the refused blob is deleted


def test_a_symlink_and_a_zip_bomb_are_400(
    upload: Upload,
    caller: Any,
    tar_gz: Callable[..., bytes],
    zip_bytes: Callable[..., bytes],
    settings: Settings,
) -> None:
    """Links and zip bombs are refused at upload."""
    import tarfile

    linked = tar_gz(
        [("config.json", b"{}"), ("model.safetensors", b"\x00")], links={"x": (tarfile.SYMTYPE, "/")}
    )
    assert upload(caller.headers, "model", "l.tgz", linked).status_code == 400
    bomb = zip_bytes(
        [("config.json", b"{}"), ("model.safetensors", b"\x00" * (settings.max_unpacked_bytes + 1))]
    )
    response = upload(caller.headers, "model", "bomb.zip", bomb)
    assert response.status_code == 400
    assert "times its size" in response.json()["detail"]  # the ratio catches it before the total


def test_an_oversized_upload_is_413_and_nothing_is_kept(
    upload: Upload, caller: Any, settings: Settings, tmp_path: Path
) -> None:
    """Past the purpose's limit the upload is a 413 and no blob remains."""
    settings.max_dataset_upload_bytes = 1000
    response = upload(caller.headers, "dataset", "big.csv", b"a,b\n" + b"x,1\n" * 1000)
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert _blobs(tmp_path) == []


def test_an_upload_declared_over_every_limit_is_refused_before_parsing(
    client: TestClient, caller: Any, settings: Settings
) -> None:
    """A Content-Length over every limit is refused before the body is read."""
    settings.max_model_upload_bytes = settings.max_dataset_upload_bytes = 10
    headers = {**caller.headers, "Content-Type": "multipart/form-data; boundary=x"}
    response = client.post("/v1/files", headers=headers, content=b"-" * (200 * 1024))
    assert response.status_code == 413
    assert response.json()["type"] == "urn:secateur:problem:file-too-large"


@pytest.mark.parametrize(
    ("purpose", "filename", "content", "status", "needle"),
    [
        ("dataset", "train.parquet", CSV, 422, "must end in one of"),
        ("model", "model.safetensors", b"\x00", 422, "must end in one of"),
        ("dataset", "empty.csv", b"", 400, "empty"),
        ("dataset", "latin1.tsv", "caf\xe9\tlabel\n".encode("latin-1"), 400, "UTF-8"),
        ("weights", "train.csv", CSV, 422, "purpose"),
    ],
)
def test_bad_uploads_say_what_is_wrong(
    upload: Upload, caller: Any, purpose: str, filename: str, content: bytes, status: int, needle: str
) -> None:
    """Wrong suffixes, empty or non-UTF-8 datasets and unknown purposes say what is wrong."""
    response = upload(caller.headers, purpose, filename, content)
    assert response.status_code == status, response.text
    assert needle in response.json()["detail"]


def test_missing_file_field_is_422(client: TestClient, caller: Any) -> None:
    """A form without `file` is a 422 naming it."""
    response = client.post("/v1/files", headers=caller.headers, data={"purpose": "dataset"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"


def test_list_pages_newest_first(upload: Upload, caller: Any, other_caller: Any, client: TestClient) -> None:
    """Files list newest first, page with `after`, and show only the caller's."""
    ids = [upload(caller.headers, "dataset", f"d{i}.csv", CSV).json()["id"] for i in range(3)]
    upload(other_caller.headers, "dataset", "theirs.csv", CSV)
    first = client.get("/v1/files?limit=2", headers=caller.headers).json()
    assert [f["id"] for f in first["data"]] == ids[::-1][:2] and first["has_more"] is True
    rest = client.get(f"/v1/files?limit=2&after={first['data'][-1]['id']}", headers=caller.headers).json()
    assert [f["id"] for f in rest["data"]] == [ids[0]] and rest["has_more"] is False
    assert client.get("/v1/files?after=file_nope", headers=caller.headers).status_code == 422
    assert client.get("/v1/files?limit=0", headers=caller.headers).status_code == 422


def test_get_and_delete(client: TestClient, caller: Any, dataset_id: str, storage: Storage) -> None:
    """A file can be read, then deleted with its blob, after which it is 404."""
    assert client.get(f"/v1/files/{dataset_id}", headers=caller.headers).json()["id"] == dataset_id
    response = client.delete(f"/v1/files/{dataset_id}", headers=caller.headers)
    assert response.status_code == 200 and response.json() == {
        "id": dataset_id,
        "object": "file",
        "deleted": True,
    }
    assert not storage.exists(f"files/{dataset_id}.csv")
    assert client.get(f"/v1/files/{dataset_id}", headers=caller.headers).status_code == 404
    assert client.delete(f"/v1/files/{dataset_id}", headers=caller.headers).status_code == 404


def test_another_keys_file_is_404(client: TestClient, other_caller: Any, dataset_id: str) -> None:
    """Another key's file is 404 for GET and DELETE."""
    for method in ("GET", "DELETE"):
        response = client.request(method, f"/v1/files/{dataset_id}", headers=other_caller.headers)
        assert response.status_code == 404 and dataset_id not in response.json().get("filename", "")


def test_a_file_used_by_an_unfinished_job_cannot_be_deleted(
    client: TestClient, caller: Any, dataset_id: str, make_job: Callable[..., Any], db_session: Session
) -> None:
    """Deleting a file an unfinished job uses is a 409; once the job ends it works."""
    task = {"type": "classification", "train_file": dataset_id, "validation_file": dataset_id}
    job = make_job(caller.id, task=task, status="running")
    response = client.delete(f"/v1/files/{dataset_id}", headers=caller.headers)
    assert response.status_code == 409 and job.id in response.json()["detail"]
    job.status = "succeeded"
    db_session.commit()
    assert client.delete(f"/v1/files/{dataset_id}", headers=caller.headers).status_code == 200
