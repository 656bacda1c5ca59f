"""The webhooks API: register, read, change, remove; secrets shown once; the SSRF guard at registration."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from secateur.kernel.settings import Settings

PUBLIC_URL = "https://93.184.216.34/hooks"  # a literal public address: resolves without a network


@pytest.fixture
def loopback_allowed(settings: Settings) -> Settings:
    """The test app's settings, with loopback targets allowed (as for the receiver tests)."""
    settings.webhook_allow_private = True
    return settings


def _create(client: TestClient, caller: Any, **body: Any) -> Any:
    return client.post("/v1/webhooks", headers=caller.headers, json={"url": PUBLIC_URL, **body})


def test_create_shows_a_standard_webhooks_secret_once(client: TestClient, caller: Any) -> None:
    """201 with a `whsec_` secret that standardwebhooks accepts; reads never show it again."""
    response = _create(client, caller, events=["job.succeeded", "job.succeeded"], description="ci")
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["id"].startswith("wh_") and created["object"] == "webhook_endpoint"
    assert created["secret"].startswith("whsec_")
    Webhook(created["secret"])  # a valid key for the reference library
    assert created["events"] == ["job.succeeded"] and created["enabled"] is True
    shown = client.get(f"/v1/webhooks/{created['id']}", headers=caller.headers).json()
    assert "secret" not in shown and shown["description"] == "ci"
    listed = client.get("/v1/webhooks", headers=caller.headers).json()
    assert [e["id"] for e in listed["data"]] == [created["id"]] and "secret" not in listed["data"][0]


def test_default_filter_is_every_event(client: TestClient, caller: Any) -> None:
    """Without `events` an endpoint gets all five event types."""
    events = _create(client, caller).json()["events"]
    assert set(events) == {
        "job.succeeded",
        "job.failed",
        "job.cancelled",
        "round.finished",
        "baseline.scored",
    }


def test_unknown_event_type_is_a_422_naming_it(client: TestClient, caller: Any) -> None:
    """A typo in the filter is refused, naming the field and the allowed values."""
    response = _create(client, caller, events=["job.finished"])
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"][0]["field"] == "events.0"
    assert "job.succeeded" in problem["errors"][0]["message"]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:8080/x", "loopback address"),
        ("http://localhost/x", "loopback address"),
        ("http://[::1]/x", "loopback address"),
        ("http://10.1.2.3/x", "private address"),
        ("http://192.168.0.10/x", "private address"),
        ("http://169.254.169.254/latest/meta-data", "link-local address"),
        ("http://224.0.0.1/x", "multicast address"),
        ("http://0.0.0.0/x", "unspecified address"),
        ("http://[::ffff:10.0.0.1]/x", "private address"),
        ("ftp://example.org/x", "not an http:// or https:// URL"),
        ("example.org/hooks", "not an http:// or https:// URL"),
        ("http:///nohost", "has no host"),
        ("http://user:pw@93.184.216.34/x", "must not carry a user name or password"),
        ("http://93.184.216.34:99999/x", "invalid port"),
        ("http://no-such-host.invalid/x", "does not resolve"),
    ],
)
def test_unsafe_malformed_or_unresolvable_urls_are_refused(
    client: TestClient, caller: Any, url: str, words: str
) -> None:
    """Private, loopback, link-local, multicast and malformed URLs are a 422 that says why."""
    response = _create(client, caller, url=url)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == "url"
    assert words in problem["detail"]


def test_loopback_is_allowed_when_the_setting_says_so(
    client: TestClient, caller: Any, loopback_allowed: Settings
) -> None:
    """SECATEUR_WEBHOOK_ALLOW_PRIVATE lets a trusted setup (and these tests) use loopback."""
    assert _create(client, caller, url="http://127.0.0.1:9/x").status_code == 201


def test_update_disable_enable_and_delete(client: TestClient, caller: Any) -> None:
    """PATCH changes only what is sent; enabling resets the failures; DELETE removes it."""
    endpoint = _create(client, caller).json()
    base = f"/v1/webhooks/{endpoint['id']}"
    off = client.patch(base, headers=caller.headers, json={"enabled": False}).json()
    assert off["enabled"] is False and off["disabled_reason"] == "disabled by its owner"
    on = client.patch(base, headers=caller.headers, json={"enabled": True, "events": ["job.failed"]}).json()
    assert on["enabled"] is True and on["disabled_reason"] is None and on["events"] == ["job.failed"]
    assert on["url"] == PUBLIC_URL
    refused = client.patch(base, headers=caller.headers, json={"url": "http://10.0.0.1/"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "url"
    assert client.delete(base, headers=caller.headers).json() == {
        "id": endpoint["id"],
        "object": "webhook_endpoint",
        "deleted": True,
    }
    assert client.get(base, headers=caller.headers).status_code == 404


def test_another_keys_endpoint_is_not_found(client: TestClient, caller: Any, other_caller: Any) -> None:
    """A key never sees, changes or removes another key's endpoint."""
    endpoint_id = _create(client, caller).json()["id"]
    for method in ("get", "delete"):
        assert (
            getattr(client, method)(f"/v1/webhooks/{endpoint_id}", headers=other_caller.headers).status_code
            == 404
        )
    assert (
        client.get(f"/v1/webhooks/{endpoint_id}/deliveries", headers=other_caller.headers).status_code == 404
    )
    assert client.get("/v1/webhooks", headers=other_caller.headers).json()["data"] == []


def test_webhooks_need_a_key(client: TestClient) -> None:
    """No key: 401 problem+json."""
    response = client.get("/v1/webhooks")
    assert response.status_code == 401 and response.headers["content-type"] == "application/problem+json"
