"""Rate limits with moving windows: per API key, and per client address for failed authentication."""

import math
import threading
import time
from collections import deque
from typing import NamedTuple

from fastapi import FastAPI
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.core.problems import RateLimited
from secateur.kernel.settings import Settings

SWEEP_EVERY_S = 60.0  # how often idle identifiers' empty windows are dropped


class Window(NamedTuple):
    """When the window next frees a request (epoch seconds), and how many requests it has left."""

    reset_time: float
    remaining: int


class MemoryMovingWindow:
    """A moving window per identifier, in this process: one deque of request times each.

    Used for `memory://` instead of `limits`' memory storage, which starts a timer thread every
    10 ms of traffic to expire entries and copies its lists on each expiry: several times the cost
    of the request it guards. Here a hit drops that identifier's expired times and appends one.
    """

    def __init__(self) -> None:
        """No windows yet."""
        self._windows: dict[str, tuple[float, deque[float]]] = {}  # key -> (window length, times)
        self._lock = threading.Lock()
        self._swept = time.time()

    def _window(self, item: RateLimitItem, identifiers: tuple[str, ...], now: float) -> deque[float]:
        """The identifier's request times still inside the window, oldest first (caller holds the lock)."""
        key = item.key_for(*identifiers)
        expiry = item.get_expiry()
        entry = self._windows.get(key)
        if entry is None:
            entry = self._windows[key] = (expiry, deque())
        times = entry[1]
        start = now - expiry
        while times and times[0] < start:
            times.popleft()
        return times

    def test(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Whether one more request would be allowed now (nothing is counted)."""
        with self._lock:
            return len(self._window(item, identifiers, time.time())) < item.amount

    def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Count one request if the window has room; False (and nothing counted) when it is full."""
        now = time.time()
        with self._lock:
            if now - self._swept > SWEEP_EVERY_S:
                self._sweep(now)
            times = self._window(item, identifiers, now)
            if len(times) >= item.amount:
                return False
            times.append(now)
            return True

    def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> Window:
        """When the oldest request in the window leaves it, and the requests left."""
        now = time.time()
        with self._lock:
            times = self._window(item, identifiers, now)
            start = times[0] if times else now
            return Window(start + item.get_expiry(), item.amount - len(times))

    def _sweep(self, now: float) -> None:
        """Forget identifiers with no request left in their window (many addresses fail once)."""
        self._swept = now
        idle = [
            key for key, (expiry, times) in self._windows.items() if not times or times[-1] < now - expiry
        ]
        for key in idle:
            del self._windows[key]


class RateLimits:
    """The two limits of one application, counted in the storage the settings name."""

    def __init__(self, settings: Settings) -> None:
        """Parse the limits (e.g. `600/minute`) and open their storage (`memory://`, `redis://…`)."""
        self.per_key = parse(settings.rate_limit_per_key)
        self.failed_auth = parse(settings.rate_limit_failed_auth)
        url = settings.rate_limit_storage_url
        self.limiter: MemoryMovingWindow | MovingWindowRateLimiter = (
            MemoryMovingWindow()
            if url.startswith("memory://")
            else MovingWindowRateLimiter(storage_from_string(url))
        )

    def check_address(self, address: str) -> None:
        """429 while this address is over its failed-authentication limit (checked before the key)."""
        if not self.limiter.test(self.failed_auth, "auth-failed", address):
            raise self._too_many(self.failed_auth, "Too many failed authentications", "auth-failed", address)

    def failed(self, address: str) -> None:
        """Count one failed authentication from `address`."""
        self.limiter.hit(self.failed_auth, "auth-failed", address)

    def hit_key(self, key_id: str) -> None:
        """Count one request of `key_id`; 429 past its limit."""
        if not self.limiter.hit(self.per_key, "key", key_id):
            raise self._too_many(self.per_key, "Too many requests for this API key", "key", key_id)

    def _too_many(self, item: RateLimitItem, what: str, *identifiers: str) -> RateLimited:
        """The 429 problem, with Retry-After: the seconds until the window frees a request."""
        reset_at = self.limiter.get_window_stats(item, *identifiers).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))
        return RateLimited(
            f"{what} (limit {item}); retry in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


def rate_limits(app: FastAPI, settings: Settings) -> RateLimits:
    """The application's limiter, made on first use (one per app, so tests never share counts)."""
    limits: RateLimits | None = getattr(app.state, "rate_limits", None)
    if limits is None:
        limits = app.state.rate_limits = RateLimits(settings)
    return limits
