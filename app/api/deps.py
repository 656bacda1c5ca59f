"""Shared FastAPI dependencies: settings, database session, storage and the caller's API key.

Every dependency here is async unless it blocks: FastAPI runs a plain `def` dependency in its
threadpool, and each such switch costs about 0.1 ms of CPU and a turn of the GIL per request. The
blocking work (the key lookup, the endpoint's queries) runs there; handing over a cached object
does not. The overridable providers (`get_settings`, `get_session_factory`, `get_store`) stay
plain functions, looked up through the app's dependency overrides.
"""

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine, bindparam, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from app.api.ratelimit import rate_limits
from app.core.problems import Unauthorized
from app.keys.service import authenticate, hash_key
from secateur.kernel.db import get_sessionmaker
from secateur.kernel.models import ApiKey
from secateur.kernel.settings import Settings, get_settings
from secateur.kernel.storage import Storage, get_storage

T = TypeVar("T")

_bearer = HTTPBearer(auto_error=False, description="An API key such as `sk-sec-…`.")


def get_session_factory() -> sessionmaker[Session]:
    """The session factory; tests override this to bind sessions to a rolled-back transaction."""
    return get_sessionmaker()


def get_store() -> Storage:
    """The blob store the settings choose."""
    return get_storage()


def _provided(request: Request, provider: Callable[[], T]) -> T:
    """What `provider` gives, or its override in the app's dependency overrides."""
    overrides: dict[Any, Any] = request.app.dependency_overrides
    return overrides.get(provider, provider)()


async def _settings(request: Request) -> Settings:
    """The settings (cached), without a thread switch."""
    return _provided(request, get_settings)


async def _session_factory(request: Request) -> sessionmaker[Session]:
    """The session factory (cached), without a thread switch."""
    return _provided(request, get_session_factory)


async def _store(request: Request) -> Storage:
    """The blob store (cached), without a thread switch."""
    return _provided(request, get_store)


SessionFactoryDep = Annotated[sessionmaker[Session], Depends(_session_factory)]
SettingsDep = Annotated[Settings, Depends(_settings)]
StorageDep = Annotated[Storage, Depends(_store)]


async def get_session(factory: SessionFactoryDep) -> AsyncIterator[Session]:
    """One session per endpoint call; services commit explicitly, anything left open is rolled back.

    Making a session does no I/O; closing one may (it rolls back and returns its connection), so
    only the close goes to the threadpool, and only when the session still holds a transaction.
    """
    session = factory()
    try:
        yield session
    finally:
        if session.in_transaction():
            # Outside the threadpool's shared limit, as FastAPI runs a dependency's exit: with every
            # thread taken by requests waiting for a connection, the close that returns one must not
            # wait for a thread (they would all time out, 503).
            await anyio.to_thread.run_sync(session.close, limiter=anyio.CapacityLimiter(1))
        else:
            session.close()


# Closed when the endpoint returns, before the response is sent: no connection waits on a slow client.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def _lookup(factory: sessionmaker[Session], secret: str) -> ApiKey | None:
    """The live key for `secret`, with a session of its own closed at once."""
    with factory() as session:
        return authenticate(session, secret)


async def get_current_key(
    request: Request,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The API key of the caller, from `Authorization: Bearer <key>`; 401 when missing or unknown.

    The lookup reads the database on every request, so a revoked key is refused on its very next
    request, and uses a session of its own: no connection is held for the rest of the request.
    Failed attempts count against the client's address, requests against the key.
    """
    limits = rate_limits(request.app, settings)
    address = request.client.host if request.client else "unknown"
    limits.check_address(address)
    if credentials is None:
        limits.failed(address)
        raise Unauthorized("Send your API key as 'Authorization: Bearer <key>'.")
    key = await run_in_threadpool(_lookup, factory, credentials.credentials)
    if key is None:
        limits.failed(address)
        raise Unauthorized("The API key is invalid or has been revoked.")
    limits.hit_key(key.id)
    return key


CurrentKey = Annotated[ApiKey, Depends(get_current_key)]


class KeyCache:
    """Keys authenticated lately, by the SHA-256 of their secret: a hit spares the lookup's thread switch.

    Never the revocation check: a cached key is only handed out inside `Caller.run`, whose one thread
    switch first reads the key's `revoked_at` by primary key, in the same session as the work.
    """

    def __init__(self, size: int = 4096) -> None:
        """At most `size` keys; past that the cache starts over (keys are few, callers fewer)."""
        self.size = size
        self._keys: dict[str, ApiKey] = {}

    def get(self, digest: str) -> ApiKey | None:
        """The cached key for this digest."""
        return self._keys.get(digest)

    def put(self, digest: str, key: ApiKey) -> None:
        """Remember a key that just authenticated."""
        if len(self._keys) >= self.size:
            self._keys.clear()
        self._keys[digest] = key

    def drop(self, digest: str) -> None:
        """Forget a key found revoked or deleted."""
        self._keys.pop(digest, None)


# Core, not ORM: this runs on every request that uses a cached key.
_KEYS = ApiKey.__table__.c
_LIVE = select(_KEYS.revoked_at).where(_KEYS.id == bindparam("key_id"))


class Caller:
    """The caller's key and a way to run the request's reads under it, in one thread switch."""

    def __init__(
        self, key: ApiKey, digest: str, address: str, request: Request, factory: sessionmaker[Session]
    ) -> None:
        """`key` came from the cache or a lookup of the secret with SHA-256 `digest`."""
        self.key, self.digest, self.address = key, digest, address
        self.request, self.factory = request, factory

    async def run(self, work: Callable[[Session], T]) -> T:
        """Read-only `work(session)` in the threadpool once the key is checked live; 401 if revoked.

        Opening the session, the check, every query, building the answer and closing the session
        share one thread switch: for a read endpoint, that is its whole request.
        """

        def call() -> T:
            with self.factory() as session:
                if isinstance(session.get_bind(), Engine):
                    # Reads need no transaction: PostgreSQL then skips a BEGIN and a ROLLBACK round
                    # trip, and its default isolation (read committed) gives each statement its own
                    # snapshot either way. (A test's session joins an open transaction instead.)
                    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                row = session.execute(_LIVE, {"key_id": self.key.id}).first()
                if row is None or row[0] is not None:
                    raise _Revoked
                return work(session)

        try:
            return await run_in_threadpool(call)
        except _Revoked:
            self.request.app.state.key_cache.drop(self.digest)
            rate_limits(self.request.app, _provided(self.request, get_settings)).failed(self.address)
            raise Unauthorized("The API key is invalid or has been revoked.") from None


class _Revoked(Exception):
    """The cached key was revoked or deleted since it was cached."""


async def get_caller(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> Caller:
    """Like `get_current_key` (same limits, same 401s), but a key seen lately needs no thread switch.

    Its revocation is checked by `Caller.run`, before any of the request's work. The settings and
    the session factory are read here rather than declared: each declared dependency is one more
    step of FastAPI's resolution on every request.
    """
    factory = _provided(request, get_session_factory)
    limits = rate_limits(request.app, _provided(request, get_settings))
    address = request.client.host if request.client else "unknown"
    limits.check_address(address)
    if credentials is None:
        limits.failed(address)
        raise Unauthorized("Send your API key as 'Authorization: Bearer <key>'.")
    cache: KeyCache | None = getattr(request.app.state, "key_cache", None)
    if cache is None:
        cache = request.app.state.key_cache = KeyCache()
    digest = hash_key(credentials.credentials)
    key = cache.get(digest)
    if key is None:
        key = await run_in_threadpool(_lookup, factory, credentials.credentials)
        if key is None:
            limits.failed(address)
            raise Unauthorized("The API key is invalid or has been revoked.")
        cache.put(digest, key)
    limits.hit_key(key.id)
    return Caller(key, digest, address, request, factory)


CallerDep = Annotated[Caller, Depends(get_caller)]
