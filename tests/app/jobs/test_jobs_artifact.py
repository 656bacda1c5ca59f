"""GET /v1/jobs/{id}/artifact: 409 before success, strong ETag, Range, and S3 redirects."""

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.api.deps import get_store
from secateur.kernel.storage import S3Storage, Storage

MakeJob = Callable[..., Any]
BLOB = bytes(range(256)) * 40  # 10 KiB


@pytest.fixture
def succeeded(caller: Any, make_job: MakeJob, storage: Storage) -> Any:
    """A succeeded job whose artifact blob is in storage."""
    key = "artifacts/job_test.tar.gz"
    size, digest = storage.save_stream(key, [BLOB])
    return make_job(
        caller.id,
        status="succeeded",
        result={},
        artifact_key=key,
        artifact_bytes=size,
        artifact_sha256=digest,
    )


@pytest.mark.parametrize("status", ["queued", "running", "cancelling", "failed", "cancelled"])
def test_409_until_succeeded(client: TestClient, caller: Any, make_job: MakeJob, status: str) -> None:
    """Every non-succeeded status answers 409 for the artifact."""
    job = make_job(caller.id, status=status)
    response = client.get(f"/v1/jobs/{job.id}/artifact", headers=caller.headers)
    assert response.status_code == 409
    assert response.json()["type"] == "urn:secateur:problem:artifact-not-ready"


def test_download_with_a_strong_etag(client: TestClient, caller: Any, succeeded: Any) -> None:
    """The artifact downloads whole with its sha256 as a strong ETag; HEAD gives the headers only."""
    response = client.get(f"/v1/jobs/{succeeded.id}/artifact", headers=caller.headers)
    assert response.status_code == 200 and response.content == BLOB
    assert response.headers["etag"] == f'"{hashlib.sha256(BLOB).hexdigest()}"'
    assert response.headers["accept-ranges"] == "bytes"
    assert f'filename="{succeeded.id}.tar.gz"' in response.headers["content-disposition"]
    head = client.head(f"/v1/jobs/{succeeded.id}/artifact", headers=caller.headers)
    assert (
        head.status_code == 200 and head.headers["content-length"] == str(len(BLOB)) and head.content == b""
    )


def test_if_none_match_gives_304(client: TestClient, caller: Any, succeeded: Any) -> None:
    """A matching If-None-Match (listed, weak or *) is a 304; a stale one downloads."""
    etag = f'"{succeeded.artifact_sha256}"'
    for header in (etag, f'"other", {etag}', f"W/{etag}", "*"):
        response = client.get(
            f"/v1/jobs/{succeeded.id}/artifact", headers={**caller.headers, "If-None-Match": header}
        )
        assert response.status_code == 304 and response.content == b"", header
    stale = {**caller.headers, "If-None-Match": '"stale"'}
    assert client.get(f"/v1/jobs/{succeeded.id}/artifact", headers=stale).status_code == 200


def test_range_requests(client: TestClient, caller: Any, succeeded: Any) -> None:
    """Byte ranges give 206 with Content-Range; If-Range honours only the current ETag."""
    url = f"/v1/jobs/{succeeded.id}/artifact"
    part = client.get(url, headers={**caller.headers, "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == BLOB[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(BLOB)}"
    tail = client.get(url, headers={**caller.headers, "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == BLOB[-10:]
    # If-Range with the current ETag honours the range; a stale one gets the whole file.
    etag = f'"{succeeded.artifact_sha256}"'
    fresh = client.get(url, headers={**caller.headers, "Range": "bytes=0-9", "If-Range": etag})
    assert fresh.status_code == 206 and fresh.content == BLOB[:10]
    stale = client.get(url, headers={**caller.headers, "Range": "bytes=0-9", "If-Range": '"old"'})
    assert stale.status_code == 200 and stale.content == BLOB


def test_bad_ranges_are_problems(client: TestClient, caller: Any, succeeded: Any) -> None:
    """Unsatisfiable and malformed ranges are 416/400 problems."""
    url = f"/v1/jobs/{succeeded.id}/artifact"
    beyond = client.get(url, headers={**caller.headers, "Range": f"bytes={len(BLOB) + 5}-"})
    assert beyond.status_code == 416 and beyond.headers["content-range"] == f"bytes */{len(BLOB)}"
    assert beyond.headers["content-type"].startswith("application/problem+json")
    malformed = client.get(url, headers={**caller.headers, "Range": "pages=1-2"})
    assert malformed.status_code == 400 and "Range" in malformed.json()["detail"]


def test_a_missing_blob_is_a_problem(client: TestClient, caller: Any, make_job: MakeJob) -> None:
    """A succeeded job whose blob is gone answers a 404 problem."""
    job = make_job(
        caller.id, status="succeeded", artifact_key="artifacts/gone.tar.gz", artifact_sha256="0" * 64
    )
    response = client.get(f"/v1/jobs/{job.id}/artifact", headers=caller.headers)
    assert response.status_code == 404 and "missing" in response.json()["detail"]


def test_s3_storage_redirects_to_a_presigned_url(
    app: FastAPI, client: TestClient, caller: Any, succeeded: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With S3 storage the artifact is a 307 to a presigned URL."""
    moto = pytest.importorskip("moto")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with moto.mock_aws():
        s3 = S3Storage("artifacts-bucket", prefix="secateur")
        s3.client.create_bucket(Bucket="artifacts-bucket")
        s3.save_stream(succeeded.artifact_key, [BLOB])
        app.dependency_overrides[get_store] = lambda: s3
        url = f"/v1/jobs/{succeeded.id}/artifact"
        response = client.get(url, headers=caller.headers, follow_redirects=False)
        assert response.status_code == 307
        location = response.headers["location"]
        assert "artifacts-bucket" in location and "secateur/artifacts/job_test.tar.gz" in location
        assert "Signature" in location or "X-Amz-Signature" in location
