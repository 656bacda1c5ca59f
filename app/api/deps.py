"""Shared FastAPI dependencies: settings, database session, storage and the caller's API key.

Every dependency here is async unless it blocks: FastAPI runs a plain `def` dependency in its
threadpool, and each such switch costs about 0.1 ms of CPU and a turn of the GIL per request. The
blocking work (the key lookup, the endpoint's queries) runs there; handing over a cached object
does not. The overridable providers (`get_settings`, `get_session_factory`, `get_store`) stay
plain functions, looked up through the app's dependency overrides.
"""

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from app.api.ratelimit import rate_limits
from app.core.problems import Unauthorized
from app.keys.service import KeyRevoked, authenticate, hash_key
from secateur.kernel.db import get_sessionmaker
from secateur.kernel.jobs.repository import key_live
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
    switch first reads the key's `revoked_at` by primary key, in the same session as the work, or
    `Caller.read`, whose work reads it in the statement that reads its rows.
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


@contextmanager
def _reader(factory: sessionmaker[Session]) -> Iterator[Connection]:
    """A connection for reads: a bare Core connection from an engine, else the session's (tests).

    No ORM session on the engine's path: its bookkeeping cost as much as the job read itself.
    """
    bind = factory.kw.get("bind")
    if not isinstance(bind, Engine):
        with factory() as session:  # a test's session, joined to its rolled-back transaction
            yield session.connection()
        return
    with bind.connect() as conn:
        if bind.dialect.name != "sqlite":
            # No transaction: PostgreSQL then skips a BEGIN and a ROLLBACK round trip, and its default
            # isolation (read committed) gives each statement its own snapshot either way. SQLite's
            # driver begins none before a SELECT anyway, and there the setting costs a PRAGMA each way.
            conn.execution_options(isolation_level="AUTOCOMMIT")
        yield conn


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
                    # As in _reader: reads need no transaction (a test's session joins one instead).
                    session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
                if not key_live(session, self.key.id):
                    raise KeyRevoked(self.key.id)
                return work(session)

        return await self._refusing_revoked(call)

    async def read(self, work: Callable[[Connection], T]) -> T:
        """Like `run`, on a Core connection, for work whose statements check the key themselves.

        `work` must raise KeyRevoked, before answering anything, when the key is no longer live: the
        job views read `key_live` in their own statement, which spares a statement per request.
        """

        def call() -> T:
            with _reader(self.factory) as conn:
                return work(conn)

        return await self._refusing_revoked(call)

    async def _refusing_revoked(self, call: Callable[[], T]) -> T:
        """`call()` in the threadpool; when it finds the key revoked, forget the key and answer 401.

        At most `db_pool_size` reads run at once: more would overflow the pool, and each overflow
        connection is opened for one request and closed after it (on PostgreSQL a new server
        process each time), while the threads only take turns on the GIL. A read that waits
        `db_pool_timeout_s` for its turn gets the pool's own 503.
        """
        settings = _provided(self.request, get_settings)
        limiter: anyio.CapacityLimiter | None = getattr(self.request.app.state, "read_limiter", None)
        if limiter is None:
            limiter = self.request.app.state.read_limiter = anyio.CapacityLimiter(settings.db_pool_size)
        try:
            with anyio.fail_after(settings.db_pool_timeout_s):
                await limiter.acquire()
        except TimeoutError:
            raise PoolTimeoutError(f"no read slot within {settings.db_pool_timeout_s:g} s") from None
        try:
            return await run_in_threadpool(call)
        except KeyRevoked:
            self.request.app.state.key_cache.drop(self.digest)
            rate_limits(self.request.app, _provided(self.request, get_settings)).failed(self.address)
            raise Unauthorized("The API key is invalid or has been revoked.") from None
        finally:
            limiter.release()


async def get_caller(request: Request, credentials: HTTPAuthorizationCredentials | None) -> Caller:
    """Like `get_current_key` (same limits, same 401s), but a key seen lately needs no thread switch.

    Its revocation is checked by `Caller.run` or `Caller.read`, before any of the request's answer.
    The settings and the session factory are read here rather than declared: each declared
    dependency is one more step of FastAPI's resolution on every request.
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


class _CallerBearer(HTTPBearer):
    """`_bearer` that answers with the `Caller`: one dependency where `get_caller` under it made two.

    FastAPI resolves each level of dependencies anew on every request (about a tenth of a polled
    GET's CPU); as the same security scheme, it documents the same `HTTPBearer` requirement.
    """

    async def __call__(self, request: Request) -> Caller:  # type: ignore[override]
        """The caller of `request`, as `get_caller` finds it."""
        return await get_caller(request, await super().__call__(request))


CallerDep = Annotated[
    Caller,
    Depends(_CallerBearer(auto_error=False, scheme_name="HTTPBearer", description=_bearer.model.description)),
]
