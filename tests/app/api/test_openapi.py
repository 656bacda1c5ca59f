"""OpenAPI declares the problem responses routes send; HEAD works on GET routes."""

from typing import Any

from fastapi.testclient import TestClient

from app.core.problems import KINDS, PROBLEM_MEDIA_TYPE, problem_type
from app.core.problems_openapi import PROBLEM_REF

# Parameter schema keys that make a request fail validation when a value breaks them.
_CONSTRAINTS = ("minimum", "maximum", "minLength", "maxLength", "pattern", "enum", "anyOf")


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


def _declared_types(response: dict[str, Any]) -> list[str]:
    """The problem `type`s one declared response lists."""
    return list(response["content"][PROBLEM_MEDIA_TYPE]["schema"]["properties"]["type"]["enum"])


def test_every_problem_response_lists_its_kinds_with_an_example_each(client: TestClient) -> None:
    """Each 4xx/5xx is the Problem schema narrowed to registered kinds of that status, one example each."""
    registered = {(kind.status, problem_type(kind.slug or "")): kind for kind in KINDS}
    for (method, path), operation in _operations(client).items():
        for status, response in operation["responses"].items():
            if status[:1] not in "45":
                continue
            assert list(response["content"]) == [PROBLEM_MEDIA_TYPE], (method, path, status)
            media = response["content"][PROBLEM_MEDIA_TYPE]
            assert media["schema"]["allOf"] == [{"$ref": PROBLEM_REF}], (method, path, status)
            assert media["schema"]["properties"]["status"]["enum"] == [int(status)]
            types = _declared_types(response)
            assert types and all((int(status), t) in registered for t in types), (method, path, status, types)
            examples = [example["value"] for example in media["examples"].values()]
            assert [example["type"] for example in examples] == types
            for example in examples:
                kind = registered[(int(status), example["type"])]
                assert (example["status"], example["title"]) == (kind.status, kind.title)


def test_validation_problems_are_declared_where_a_request_can_break_them(client: TestClient) -> None:
    """A JSON body can be malformed or invalid, a constrained parameter invalid: the route says so."""
    for (method, path), operation in _operations(client).items():
        responses = operation["responses"]
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            assert problem_type("malformed-json") in _declared_types(responses["400"]), (method, path)
            assert problem_type("body-timeout") in _declared_types(responses["408"]), (method, path)
            assert problem_type("validation-error") in _declared_types(responses["422"]), (method, path)
        for parameter in operation.get("parameters", []):
            schema = parameter.get("schema", {})
            if schema.get("type") == "integer" or any(key in schema for key in _CONSTRAINTS):
                assert "422" in responses, (method, path, parameter["name"])


def test_every_problem_kind_is_declared_by_some_route(client: TestClient) -> None:
    """No kind is registered that no route admits to, and FastAPI's own 422 schema is gone."""
    schema = client.get("/openapi.json").json()
    declared = {
        (int(status), kind)
        for operation in _operations(client).values()
        for status, response in operation["responses"].items()
        if status[:1] in "45"
        for kind in _declared_types(response)
    }
    assert {(kind.status, problem_type(kind.slug or "")) for kind in KINDS} == declared
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    assert set(schema["components"]["schemas"]["Problem"]["required"]) == {
        "type",
        "title",
        "status",
        "detail",
    }


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
