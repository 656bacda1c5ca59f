"""Shared FastAPI dependencies: settings, database session, storage and the caller's API key."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session, sessionmaker

from app.api.ratelimit import rate_limits
from app.core.problems import Unauthorized
from app.keys.service import authenticate
from secateur.kernel.db import get_sessionmaker
from secateur.kernel.models import ApiKey
from secateur.kernel.settings import Settings, get_settings
from secateur.kernel.storage import Storage, get_storage

_bearer = HTTPBearer(auto_error=False, description="An API key such as `sk-sec-…`.")


def get_session_factory() -> sessionmaker[Session]:
    """The session factory; tests override this to bind sessions to a rolled-back transaction."""
    return get_sessionmaker()


SessionFactoryDep = Annotated[sessionmaker[Session], Depends(get_session_factory)]


def get_session(factory: SessionFactoryDep) -> Iterator[Session]:
    """One session per endpoint call; services commit explicitly, anything left open is rolled back."""
    with factory() as session:
        yield session


def get_store() -> Storage:
    """The blob store the settings choose."""
    return get_storage()


SettingsDep = Annotated[Settings, Depends(get_settings)]
# Closed when the endpoint returns, before the response is sent: no connection waits on a slow client.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
StorageDep = Annotated[Storage, Depends(get_store)]


def get_current_key(
    request: Request,
    factory: SessionFactoryDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The API key of the caller, from `Authorization: Bearer <key>`; 401 when missing or unknown.

    The lookup uses a session of its own, closed at once: no connection is held for the rest of
    the request. Failed attempts count against the client's address, requests against the key.
    """
    limits = rate_limits(request.app, settings)
    address = request.client.host if request.client else "unknown"
    limits.check_address(address)
    if credentials is None:
        limits.failed(address)
        raise Unauthorized("Send your API key as 'Authorization: Bearer <key>'.")
    with factory() as session:
        key = authenticate(session, credentials.credentials)
    if key is None:
        limits.failed(address)
        raise Unauthorized("The API key is invalid or has been revoked.")
    limits.hit_key(key.id)
    return key


CurrentKey = Annotated[ApiKey, Depends(get_current_key)]
