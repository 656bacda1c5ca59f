"""Every error is an RFC 9457 problem+json body, and never a stack trace."""

from typing import Any

import httpx2 as httpx  # what starlette.testclient returns
from fastapi import FastAPI
from fastapi.testclient import TestClient


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is a problem+json body with the required members and the given status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert "Traceback" not in response.text
    return body


def test_401_without_a_key_has_www_authenticate(client: TestClient) -> None:
    """No Authorization header: 401 problem with a Bearer challenge."""
    response = client.get("/v1/jobs")
    body = assert_problem(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert "Bearer" in body["detail"]


def test_401_with_an_unknown_key(client: TestClient) -> None:
    """An unknown key is a 401 problem."""
    response = client.get("/v1/files", headers={"Authorization": "Bearer sk-sec-nope"})
    assert "invalid" in assert_problem(response, 401)["detail"]


def test_404_for_an_unknown_route_and_job(client: TestClient, caller: Any) -> None:
    """Unknown routes and unknown jobs are 404 problems."""
    assert_problem(client.get("/v1/nothing-here", headers=caller.headers), 404)
    body = assert_problem(client.get("/v1/jobs/job_missing", headers=caller.headers), 404)
    assert body["type"] == "urn:secateur:problem:not-found"


def test_405_for_a_wrong_method(client: TestClient, caller: Any) -> None:
    """A wrong method is a 405 problem."""
    assert_problem(client.put("/v1/jobs", headers=caller.headers, json={}), 405)


def test_422_names_the_field(client: TestClient, caller: Any) -> None:
    """A validation failure lists the offending field by name."""
    body = {"model": "bert-base-uncased", "task": {"name": "rte"}, "retention": 1.5}
    problem = assert_problem(client.post("/v1/jobs", headers=caller.headers, json=body), 422)
    assert problem["errors"][0]["field"] == "retention"
    assert problem["detail"].startswith("retention:")


def test_malformed_json_is_a_400_problem(client: TestClient, caller: Any) -> None:
    """A body that is not JSON is a 400 malformed-json problem."""
    headers = {**caller.headers, "Content-Type": "application/json"}
    response = client.post("/v1/jobs", headers=headers, content=b'{"model": "x", ')
    assert assert_problem(response, 400)["type"] == "urn:secateur:problem:malformed-json"


def test_500_is_a_problem_without_details(app: FastAPI, client: TestClient) -> None:
    """An unhandled exception becomes a generic 500 problem with no internals."""

    def boom() -> None:
        """A route that fails with a message that must not leak."""
        raise RuntimeError("secret internals /etc/passwd")

    app.add_api_route("/boom", boom)
    response = client.get("/boom")
    body = assert_problem(response, 500)
    assert "secret" not in response.text and "RuntimeError" not in response.text
    assert body["title"] == "Internal Server Error"
