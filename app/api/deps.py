"""Shared FastAPI dependencies: settings, database session, storage and the caller's API key."""

from collections.abc import Iterator
from typing import Annotated

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


def get_session_factory() -> sessionmaker[Session]:
    """The session factory; tests override this to bind sessions to a rolled-back transaction."""
    return get_sessionmaker()


def get_session(factory: Annotated[sessionmaker[Session], Depends(get_session_factory)]) -> Iterator[Session]:
    """One session per request; services commit explicitly, anything left open is rolled back."""
    with factory() as session:
        yield session


def get_store() -> Storage:
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
    if key is None:
        raise _unauthorized("The API key is invalid or has been revoked.")
    return key


CurrentKey = Annotated[ApiKey, Depends(get_current_key)]
