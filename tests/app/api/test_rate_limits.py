"""Rate limits: per key, and per client address for failed authentication; 429 with Retry-After."""

from typing import Any

from fastapi.testclient import TestClient

from secateur.kernel.settings import Settings


def test_a_key_over_its_limit_gets_429_with_retry_after(
    client: TestClient, caller: Any, other_caller: Any, settings: Settings
) -> None:
    """The fourth request of a key allowed 3 a minute is refused; another key is unaffected."""
    settings.rate_limit_per_key = "3/minute"
    for _ in range(3):
        assert client.get("/v1/jobs", headers=caller.headers).status_code == 200
    refused = client.get("/v1/jobs", headers=caller.headers)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"] == "urn:secateur:problem:rate-limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert client.get("/v1/jobs", headers=other_caller.headers).status_code == 200


def test_failed_authentication_is_limited_per_address(
    client: TestClient, caller: Any, settings: Settings
) -> None:
    """After 2 bad keys from one address, even a good key from it waits: guessing keys is throttled."""
    settings.rate_limit_failed_auth = "2/minute"
    bad = {"Authorization": "Bearer sk-sec-wrong"}
    assert client.get("/v1/jobs", headers=bad).status_code == 401
    assert client.get("/v1/jobs").status_code == 401  # no key at all counts too
    refused = client.get("/v1/jobs", headers=bad)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert client.get("/v1/jobs", headers=caller.headers).status_code == 429


def test_successful_requests_do_not_count_as_failures(
    client: TestClient, caller: Any, settings: Settings
) -> None:
    """Only failures count against the address."""
    settings.rate_limit_failed_auth = "2/minute"
    for _ in range(5):
        assert client.get("/v1/jobs", headers=caller.headers).status_code == 200
