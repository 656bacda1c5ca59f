"""The Secateur API client: auth, problem+json errors and retries of idempotent requests."""

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from app.client.errors import ApiError
from app.client.files import Files
from app.client.jobs import Jobs

DEFAULT_URL = "http://127.0.0.1:8000"
# Gateways and an overloaded server say "try again"; 429 only when it also says when (Retry-After).
RETRY_STATUSES = frozenset({502, 503, 504})


class SecateurClient:
    """A sync client for one API key; `client.files` and `client.jobs` hold the calls.

    Pass `http` to reuse an httpx client (tests pass FastAPI's TestClient, which is one); its base URL
    is then used as it is. GET requests and job submission (which carries an Idempotency-Key) are
    retried on connection errors and 502/503/504, and on 429 when the answer says when.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        api_key: str | None = None,
        *,
        http: httpx.Client | None = None,
        timeout: float = 60.0,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Talk to `base_url` with `api_key`; `sleep` is injectable so tests need not wait."""
        self._owns_http = http is None
        self.http = http or httpx.Client(base_url=base_url, timeout=httpx.Timeout(timeout, connect=10.0))
        self.base_url = str(self.http.base_url)
        self.api_key = api_key
        self.max_retries, self.backoff_s, self.sleep = max_retries, backoff_s, sleep
        self.files = Files(self)
        self.jobs = Jobs(self)

    def close(self) -> None:
        """Close the connection pool (not one that was passed in)."""
        if self._owns_http:
            self.http.close()

    def __enter__(self) -> "SecateurClient":
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """Auth and caller headers for one request."""
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        return {**headers, **(extra or {})}

    def request(self, method: str, path: str, *, retry: bool | None = None, **kwargs: Any) -> httpx.Response:
        """Send one request and return a 2xx/3xx response; raise ApiError for anything else."""
        kwargs["headers"] = self.headers(kwargs.get("headers"))
        retry = method in ("GET", "HEAD") if retry is None else retry
        attempt = 0
        while True:
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                if not retry or attempt >= self.max_retries:
                    raise self.unreachable(exc) from exc
                self.sleep(self.backoff(attempt))
            else:
                delay = self.retry_delay(response, attempt) if retry else None
                if delay is None:
                    return checked(response)
                self.sleep(delay)
            attempt += 1

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        """The JSON body of a successful request."""
        return self.request(method, path, **kwargs).json()

    @contextmanager
    def stream(self, method: str, path: str, **kwargs: Any) -> Iterator[httpx.Response]:
        """A streamed response; its status is checked (and an error body read) before it is yielded."""
        kwargs["headers"] = self.headers(kwargs.get("headers"))
        try:
            with self.http.stream(method, path, **kwargs) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ApiError.from_response(response)
                yield response
        except httpx.TransportError as exc:
            raise self.unreachable(exc) from exc

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: about 0.5, 1, 2, 4 s, at most 30 s."""
        return float(min(30.0, self.backoff_s * 2**attempt * (0.5 + random.random())))

    def retry_delay(self, response: httpx.Response, attempt: int) -> float | None:
        """How long to wait before retrying this response, or None when it is final."""
        if attempt >= self.max_retries:
            return None
        after = retry_after(response)
        if response.status_code == 429:
            return after
        if response.status_code in RETRY_STATUSES:
            return after if after is not None else self.backoff(attempt)
        return None

    def unreachable(self, exc: httpx.TransportError) -> ApiError:
        """A transport failure as the client's one error type."""
        kind = type(exc).__name__
        return ApiError.client_side("unreachable", "Cannot reach the API", f"{self.base_url}: {kind}: {exc}")


def checked(response: httpx.Response) -> httpx.Response:
    """The response if it succeeded; its problem as an ApiError otherwise."""
    if response.status_code >= 400:
        response.read()
        raise ApiError.from_response(response)
    return response


def retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (delta or HTTP date), capped at five minutes."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), 300.0)
