"""Shared FastAPI dependencies: settings, database session, storage and the caller's API key."""

from collections.abc import AsyncIterator
from typing import Annotated

import anyio
from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from app.core.config import Settings, get_settings
from app.core.db import get_sessionmaker
from app.core.errors import ProblemError
from app.core.storage import Storage, get_storage
from app.keys.service import authenticate
from app.models import ApiKey

_bearer = HTTPBearer(auto_error=False, description="An API key such as `sk-sec-…`.")


# The dependencies below that do no I/O are `async def`: FastAPI runs every plain `def` dependency in
# its threadpool, and each trip there costs a thread switch and a GIL hand-off under load.


async def get_session_factory() -> sessionmaker[Session]:
    """The session factory; tests override this to bind sessions to a rolled-back transaction."""
    return get_sessionmaker()


async def get_session(
    factory: Annotated[sessionmaker[Session], Depends(get_session_factory)],
) -> AsyncIterator[Session]:
    """One session per request; services commit explicitly, anything left open is rolled back.

    A session connects lazily, so creating it here does no I/O. Closing it returns its connection
    (a rollback), so that runs in a thread, under a limiter of its own: a request holding a
    connection must never wait for a slot in the shared threadpool, or a burst in which every
    pool thread waits for a connection deadlocks until the pool times out.
    """
    session = factory()
    try:
        yield session
    finally:
        await anyio.to_thread.run_sync(session.close, limiter=anyio.CapacityLimiter(1))


async def get_store() -> Storage:
    """The blob store the settings choose."""
    return get_storage()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
StorageDep = Annotated[Storage, Depends(get_store)]


def _unauthorized(detail: str) -> ProblemError:
    """A 401 problem that tells the client to use Bearer auth."""
    return ProblemError(401, detail, slug="unauthorized", headers={"WWW-Authenticate": "Bearer"})


def get_current_key(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The API key of the caller, from `Authorization: Bearer <key>`; 401 when missing or unknown."""
    if credentials is None:
        raise _unauthorized("Send your API key as 'Authorization: Bearer <key>'.")
    key = authenticate(session, credentials.credentials)
    # End the read so the connection goes back to the pool while the request waits for its next
    # thread (the endpoint's); the key row stays usable, sessions do not expire on commit.
    session.commit()
    if key is None:
        raise _unauthorized("The API key is invalid or has been revoked.")
    return key


CurrentKey = Annotated[ApiKey, Depends(get_current_key)]
