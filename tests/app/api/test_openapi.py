"""OpenAPI declares the problem responses routes send; HEAD works on GET routes."""

from typing import Any

from fastapi.testclient import TestClient


def _operations(client: TestClient) -> dict[tuple[str, str], dict[str, Any]]:
    """Every operation of the OpenAPI document by (method, path)."""
    schema = client.get("/openapi.json").json()
    return {(m.upper(), p): op for p, item in schema["paths"].items() for m, op in item.items()}


def test_every_v1_route_declares_its_problem_responses(client: TestClient) -> None:
    """Auth, rate-limit and database problems everywhere, as application/problem+json."""
    operations = _operations(client)
    for (method, path), operation in operations.items():
        if not path.startswith("/v1"):
            continue
        for status in ("401", "429", "503"):
            response = operation["responses"].get(status)
            assert response is not None, f"{method} {path} does not declare {status}"
            assert list(response["content"]) == ["application/problem+json"], (method, path, status)
    assert {"400", "408", "413", "422"} <= set(operations[("POST", "/v1/files")]["responses"])
    assert "422" in operations[("GET", "/v1/jobs/{job_id}/events")]["responses"]
    assert "409" in operations[("POST", "/v1/jobs/{job_id}/cancel")]["responses"]
    assert "416" in operations[("GET", "/v1/jobs/{job_id}/artifact")]["responses"]
    assert "503" in operations[("GET", "/readyz")]["responses"]
    assert "multipart/form-data" in operations[("POST", "/v1/files")]["requestBody"]["content"]


def test_declared_statuses_match_what_is_sent(client: TestClient, caller: Any) -> None:
    """A few real problem responses, each declared on its route."""
    operations = _operations(client)
    cases = [
        ("GET", "/v1/files/{file_id}", "/v1/files/file_nope", caller.headers),
        ("GET", "/v1/jobs/{job_id}", "/v1/jobs/job_nope", caller.headers),
        ("GET", "/v1/jobs", "/v1/jobs", {}),
        ("GET", "/v1/jobs", "/v1/jobs?limit=0", caller.headers),
    ]
    for method, template, url, headers in cases:
        status = client.request(method, url, headers=headers).status_code
        assert str(status) in operations[(method, template)]["responses"], (url, status)


def test_head_answers_like_get_without_a_body(client: TestClient, caller: Any) -> None:
    """HEAD on a GET route: the same status and headers, no body (not 405)."""
    got = client.get("/v1/jobs", headers=caller.headers)
    head = client.head("/v1/jobs", headers=caller.headers)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]
    assert head.headers["content-length"] == got.headers["content-length"]
    assert client.head("/healthz").status_code == 200
    assert client.head("/v1/jobs/job_nope", headers=caller.headers).status_code == 404
    assert client.head("/v1/jobs").status_code == 401
    assert client.request("PUT", "/v1/jobs", headers=caller.headers).status_code == 405
