"""All SQL about API keys."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import ApiKey


def get_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    """The key row with this hash, revoked or not."""
    return session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash)).one_or_none()


def add(session: Session, name: str, key_hash: str, prefix: str) -> ApiKey:
    """Insert a key row and flush it so its id is known."""
    row = ApiKey(name=name, key_hash=key_hash, prefix=prefix)
    session.add(row)
    session.flush()
    return row


def list_all(session: Session) -> list[ApiKey]:
    """Every key, oldest first, revoked ones included."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)))


def get(session: Session, key_id: str) -> ApiKey | None:
    """The key row with this id."""
    return session.get(ApiKey, key_id)
