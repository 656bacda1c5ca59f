"""Rate limits with the `limits` library: per API key, and per client address for failed authentication."""

import math
import time

from fastapi import FastAPI
from limits import RateLimitItem, parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from app.core.problems import RateLimited
from secateur.kernel.settings import Settings


class RateLimits:
    """The two limits of one application, counted in the storage the settings name."""

    def __init__(self, settings: Settings) -> None:
        """Parse the limits (e.g. `600/minute`) and open their storage (`memory://`, `redis://…`)."""
        self.per_key = parse(settings.rate_limit_per_key)
        self.failed_auth = parse(settings.rate_limit_failed_auth)
        self.limiter = MovingWindowRateLimiter(storage_from_string(settings.rate_limit_storage_url))

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
