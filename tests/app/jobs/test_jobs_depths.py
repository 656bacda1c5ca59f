"""Job options at submit (baseline mode, layer constraints) and GET /v1/jobs/{id}/artifacts[/{layers}]."""

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from secateur.kernel.models import JobDepth
from secateur.kernel.storage import Storage

MakeJob = Callable[..., Any]
Body = Callable[..., dict[str, Any]]
BLOB = bytes(range(256)) * 8


def test_options_are_stored_and_shown_with_their_defaults(
    client: TestClient, caller: Any, job_body: Body
) -> None:
    """Defaults: fine-tune, no override, nothing protected, no target, depths kept; set values come back."""
    plain = client.post("/v1/jobs", json=job_body(), headers=caller.headers).json()
    assert (plain["baseline"], plain["allow_weak_baseline"], plain["keep_depths"]) == (
        "fine-tune",
        False,
        True,
    )
    assert (plain["protected_layers"], plain["target_layers"], plain["warnings"]) == ([], None, [])
    assert plain["urls"]["artifacts"] == f"/v1/jobs/{plain['id']}/artifacts"
    body = job_body(
        baseline="as-is",
        allow_weak_baseline=True,
        protected_layers=[3, 0],
        target_layers=4,
        keep_depths=False,
    )
    job = client.post("/v1/jobs", json=body, headers=caller.headers).json()
    assert job["baseline"] == "as-is" and job["allow_weak_baseline"] is True and job["keep_depths"] is False
    assert job["protected_layers"] == [0, 3] and job["target_layers"] == 4


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"baseline": "as-is", "strategy": "glp"}, "baseline", "cannot be used with strategy 'glp'"),
        ({"baseline": "as-is", "strategy": "top"}, "baseline", "cannot be used with strategy 'top'"),
        ({"baseline": "pretrained"}, "baseline", ""),
        ({"protected_layers": [1, 1]}, "protected_layers", "more than once"),
        ({"protected_layers": [-1]}, "protected_layers.0", ""),
        ({"target_layers": 0}, "target_layers", ""),
        ({"protected_layers": [0, 1, 2], "target_layers": 2}, "target_layers", "below the 3 protected"),
    ],
)
def test_bad_options_are_422_naming_the_field(
    client: TestClient, caller: Any, job_body: Body, change: dict[str, Any], field: str, words: str
) -> None:
    """Each bad option is a problem naming its field; nothing is created."""
    before = client.get("/v1/jobs", headers=caller.headers).json()["data"]
    response = client.post("/v1/jobs", json=job_body(**change), headers=caller.headers)
    assert response.status_code == 422, response.text
    errors = {e["field"]: e["message"] for e in response.json()["errors"]}
    assert field in errors and words in errors[field], errors
    assert client.get("/v1/jobs", headers=caller.headers).json()["data"] == before


@pytest.fixture
def with_depths(caller: Any, make_job: MakeJob, storage: Storage, db_session: Session) -> Any:
    """A running job with a kept 3-layer depth and a 5-layer one dropped for space."""
    job = make_job(caller.id, status="running")
    key = f"artifacts/{job.id}/depths/layers-3.tar.gz"
    size, digest = storage.save_stream(key, [BLOB])
    common = {"job_id": job.id, "score": 0.9, "report_score": 0.88, "device": "cpu (x86_64)"}
    db_session.add_all(
        [
            JobDepth(
                round=1, layers=5, kept_layers=[0, 1, 2, 3, 5], parameters=500, latency_ms=5.0,
                bytes=9, sha256="0" * 64, storage_key=None, **common,
            ),
            JobDepth(
                round=3, layers=3, kept_layers=[0, 2, 5], parameters=300, latency_ms=3.0,
                bytes=size, sha256=digest, storage_key=key, **common,
            ),
        ]
    )  # fmt: skip
    db_session.commit()
    return job


def test_artifacts_lists_every_accepted_depth(client: TestClient, caller: Any, with_depths: Any) -> None:
    """Layers, kept layers, scores, parameters, bytes, sha256 and latency; a dropped one has no URL."""
    listing = client.get(f"/v1/jobs/{with_depths.id}/artifacts", headers=caller.headers).json()["data"]
    assert [d["layers"] for d in listing] == [5, 3]
    dropped, kept = listing
    assert dropped["available"] is False and dropped["url"] is None
    assert kept["kept_layers"] == [0, 2, 5] and kept["parameters"] == 300 and kept["latency_ms"] == 3.0
    assert kept["sha256"] == hashlib.sha256(BLOB).hexdigest() and kept["bytes"] == len(BLOB)
    assert kept["url"] == f"/v1/jobs/{with_depths.id}/artifacts/3" and kept["device"] == "cpu (x86_64)"


def test_a_depth_downloads_with_etag_and_ranges(client: TestClient, caller: Any, with_depths: Any) -> None:
    """The same strong ETag, 304 and Range behaviour as the artifact, also while the job runs."""
    url = f"/v1/jobs/{with_depths.id}/artifacts/3"
    whole = client.get(url, headers=caller.headers)
    assert whole.status_code == 200 and whole.content == BLOB
    etag = whole.headers["etag"]
    assert etag == f'"{hashlib.sha256(BLOB).hexdigest()}"'
    assert client.get(url, headers={**caller.headers, "If-None-Match": etag}).status_code == 304
    part = client.get(url, headers={**caller.headers, "Range": "bytes=10-19"})
    assert part.status_code == 206 and part.content == BLOB[10:20]
    outside = client.get(url, headers={**caller.headers, "Range": f"bytes={len(BLOB) + 5}-"})
    assert outside.status_code == 416
    assert client.head(url, headers=caller.headers).headers["content-length"] == str(len(BLOB))


def test_missing_and_dropped_depths_are_problems(
    client: TestClient, caller: Any, with_depths: Any, other_caller: Any
) -> None:
    """No such depth: 404 listing those that exist; dropped: 410; another key's job: 404."""
    missing = client.get(f"/v1/jobs/{with_depths.id}/artifacts/4", headers=caller.headers)
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["type"] == "urn:secateur:problem:depth-not-found"
    assert "accepted depths: 5, 3" in missing.json()["detail"]
    dropped = client.get(f"/v1/jobs/{with_depths.id}/artifacts/5", headers=caller.headers)
    assert dropped.status_code == 410 and dropped.json()["type"] == "urn:secateur:problem:depth-dropped"
    assert client.get(f"/v1/jobs/{with_depths.id}/artifacts", headers=other_caller.headers).status_code == 404
    assert client.get(f"/v1/jobs/{with_depths.id}/artifacts/0", headers=caller.headers).status_code == 422
