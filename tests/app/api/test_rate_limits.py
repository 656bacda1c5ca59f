"""Rate limits: per key, and per client address for failed authentication; 429 with Retry-After."""

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient
from limits import parse

from app.api import ratelimit
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


class _Clock:
    """A settable stand-in for the `time` module."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now


def test_memory_window_moves_and_reports_when_it_frees(monkeypatch: pytest.MonkeyPatch) -> None:
    """3/minute: the 4th hit is refused until the first leaves the window; Retry-After counts from it."""
    clock = _Clock()
    monkeypatch.setattr(ratelimit, "time", clock)
    window, item = ratelimit.MemoryMovingWindow(), parse("3/minute")
    for offset in (0.0, 10.0, 20.0):
        clock.now = 1_000_000.0 + offset
        assert window.hit(item, "key", "a")
    clock.now = 1_000_030.0
    assert not window.test(item, "key", "a") and not window.hit(item, "key", "a")
    assert window.get_window_stats(item, "key", "a") == (1_000_060.0, 0)
    assert window.hit(item, "key", "b")  # another identifier has its own window
    clock.now = 1_000_060.5  # the first hit has left the window, the refused one was never counted
    assert window.test(item, "key", "a") and window.hit(item, "key", "a")
    assert not window.hit(item, "key", "a")


def test_memory_window_starts_no_thread_and_forgets_idle_identifiers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hits run no timer thread (the `limits` memory storage starts one per 10 ms); idle windows go."""
    clock = _Clock()
    monkeypatch.setattr(ratelimit, "time", clock)
    window, item = ratelimit.MemoryMovingWindow(), parse("5/second")
    threads = threading.active_count()
    for i in range(200):
        window.hit(item, "auth-failed", f"10.0.0.{i}")
    assert threading.active_count() == threads
    clock.now += ratelimit.SWEEP_EVERY_S + 1
    window.hit(item, "key", "live")
    assert window.get_window_stats(item, "auth-failed", "10.0.0.1").remaining == 5
    assert len(window._windows) == 2  # the live key and the address just looked up again


def test_memory_storage_uses_the_in_process_window(settings: Settings) -> None:
    """`memory://` gets the in-process window; other storages keep `limits`' moving window."""
    settings.rate_limit_storage_url = "memory://"
    assert isinstance(ratelimit.RateLimits(settings).limiter, ratelimit.MemoryMovingWindow)
