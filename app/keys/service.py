"""Key generation and verification; only a key's SHA-256 ever reaches the database."""

import hashlib
import secrets

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.keys import repository
from secateur.kernel.models import ApiKey, utcnow

KEY_PREFIX = "sk-sec-"
MIN_BOOTSTRAP_KEY_LENGTH = 8  # short enough for test fixtures, long enough to refuse an accidental "1"


def hash_key(secret: str) -> str:
    """The stored form of a key: keys are long random strings, so a plain SHA-256 is enough."""
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_key() -> str:
    """A new random key such as `sk-sec-3vQ…` (256 bits of entropy)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_key(session: Session, name: str) -> tuple[ApiKey, str]:
    """Create a key named `name`; returns the row and the secret, which is never stored."""
    if not name.strip():
        raise ValueError("a key needs a non-empty name")
    secret = generate_key()
    return repository.add(session, name.strip(), hash_key(secret), secret[:12]), secret


def ensure_bootstrap_key(session: Session, key: str) -> ApiKey:
    """Make sure `key` exists (for first runs and automated tests); idempotent."""
    if len(key) < MIN_BOOTSTRAP_KEY_LENGTH:
        raise ValueError(
            f"SECATEUR_BOOTSTRAP_API_KEY must be at least {MIN_BOOTSTRAP_KEY_LENGTH} characters long"
        )
    existing = repository.get_by_hash(session, hash_key(key))
    if existing is not None:
        return existing
    try:
        with session.begin_nested():
            return repository.add(session, "bootstrap", hash_key(key), key[:12])
    except IntegrityError:
        # API replicas started together all bootstrap the same key: one insert wins, the rest read it.
        winner = repository.get_by_hash(session, hash_key(key))
        if winner is None:
            raise
        return winner


class KeyRevoked(Exception):
    """The caller's key, live when the request began, is revoked or deleted (the API answers 401)."""


def authenticate(session: Session, secret: str) -> ApiKey | None:
    """The live key matching `secret`, or None when unknown or revoked."""
    row = repository.get_by_hash(session, hash_key(secret))
    if row is None or row.revoked_at is not None:
        return None
    return row


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, oldest first; the secrets themselves are not stored, only their prefixes."""
    return repository.list_all(session)


def revoke_key(session: Session, key_id: str) -> ApiKey:
    """Revoke a key by id; every later request with it is refused (there is no auth cache)."""
    row = repository.get(session, key_id)
    if row is None:
        raise LookupError(f"no key {key_id!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return row
