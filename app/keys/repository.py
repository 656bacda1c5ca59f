"""All SQL about API keys."""

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from secateur.kernel.models import ApiKey

# Every request runs this lookup: built once, it skips a third of the query's cost (building the
# expression and its cache key each time).
_BY_HASH = select(ApiKey).where(ApiKey.key_hash == bindparam("key_hash"))


def get_by_hash(session: Session, key_hash: str) -> ApiKey | None:
    """The key row with this hash, revoked or not."""
    return session.scalars(_BY_HASH, {"key_hash": key_hash}).one_or_none()


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
