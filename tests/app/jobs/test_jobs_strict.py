"""Request types are strict (no JSON coercion) and query integers are bounded."""

from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from secateur.kernel.models import Job


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"retention": True}, "retention"),
        ({"retention": "0.5"}, "retention"),
        ({"hyperparameters": {"epochs": "3"}}, "hyperparameters.epochs"),
        ({"hyperparameters": {"epochs": 2.0}}, "hyperparameters.epochs"),
        ({"model": 42}, "model"),
    ],
)
def test_json_types_are_not_coerced(
    client: TestClient,
    caller: Any,
    job_body: Callable[..., dict[str, Any]],
    overrides: dict[str, Any],
    field: str,
) -> None:
    """A boolean or a string is not a number, and a float is not an integer."""
    response = client.post("/v1/jobs", headers=caller.headers, json=job_body(**overrides))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == field


def test_an_integer_retention_is_still_a_number(
    client: TestClient, caller: Any, job_body: Callable[..., dict[str, Any]]
) -> None:
    """JSON has one number type: `1` is a valid retention."""
    response = client.post("/v1/jobs", headers=caller.headers, json=job_body(retention=1))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "query",
    ["after=9223372036854775808", "after=2147483648", "after=-1", "limit=100000000000000000000", "after=1e3"],
)
def test_event_query_integers_are_bounded(
    client: TestClient, caller: Any, make_job: Callable[..., Job], query: str
) -> None:
    """An id past the column's range is a 422 naming the parameter, not an overflow in the database."""
    job = make_job(caller.id)
    response = client.get(f"/v1/jobs/{job.id}/events?{query}", headers=caller.headers)
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == query.split("=")[0]


def test_the_largest_event_id_is_accepted(
    client: TestClient, caller: Any, make_job: Callable[..., Job]
) -> None:
    """2**31 - 1, the largest id the events table holds, is a valid cursor (nothing comes after it)."""
    job = make_job(caller.id)
    response = client.get(f"/v1/jobs/{job.id}/events?after={2**31 - 1}", headers=caller.headers)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == []
