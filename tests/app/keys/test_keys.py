"""API keys: hashing, revocation, the bootstrap key and `secateur keys create`."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from app.api.deps import get_session_factory
from app.keys import repository
from app.keys.service import KEY_PREFIX, authenticate, create_key, ensure_bootstrap_key, hash_key
from secateur.kernel.db import make_engine
from secateur.kernel.migrate import upgrade_to_head
from secateur.kernel.models import ApiKey, utcnow
from secateur.kernel.settings import Settings

ROOT = Path(__file__).resolve().parents[3]


def test_only_the_hash_is_stored(db_session: Session) -> None:
    """The secret is never stored, and authenticates by its hash."""
    row, secret = create_key(db_session, "carol")
    assert secret.startswith(KEY_PREFIX) and len(secret) > 40
    assert row.key_hash == hash_key(secret) and secret not in (row.key_hash, row.prefix)
    assert authenticate(db_session, secret) is row
    assert authenticate(db_session, secret + "x") is None


def test_a_revoked_key_is_refused(client: TestClient, caller: Any, db_session: Session) -> None:
    """A revoked key stops working."""
    assert client.get("/v1/jobs", headers=caller.headers).status_code == 200
    db_session.get_one(ApiKey, caller.id).revoked_at = utcnow()
    db_session.commit()
    assert client.get("/v1/jobs", headers=caller.headers).status_code == 401


def test_ensure_bootstrap_key_survives_a_replica_inserting_it_first(
    db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two API replicas starting together: the one whose insert loses gets the winner's row, no error."""
    winner = ensure_bootstrap_key(db_session, "sk-sec-bootstrap-for-tests")
    real, looks = repository.get_by_hash, []

    def first_look_misses(session: Session, key_hash: str) -> ApiKey | None:
        looks.append(key_hash)  # the loser's first look came before the winner committed
        return None if len(looks) == 1 else real(session, key_hash)

    monkeypatch.setattr(repository, "get_by_hash", first_look_misses)
    assert ensure_bootstrap_key(db_session, "sk-sec-bootstrap-for-tests").id == winner.id
    assert len(looks) == 2


def test_ensure_bootstrap_key_is_idempotent(db_session: Session) -> None:
    """Ensuring the bootstrap key twice keeps one row; too-short keys are refused."""
    first = ensure_bootstrap_key(db_session, "sk-sec-bootstrap-for-tests")
    second = ensure_bootstrap_key(db_session, "sk-sec-bootstrap-for-tests")
    assert first.id == second.id
    with pytest.raises(ValueError, match="8 characters"):
        ensure_bootstrap_key(db_session, "short")


def test_bootstrap_key_is_ensured_at_start_up(app: FastAPI, settings: Settings) -> None:
    """SECATEUR_BOOTSTRAP_API_KEY works as soon as the app has started."""
    settings.bootstrap_api_key = "sk-sec-bootstrap-at-start-up"
    headers = {"Authorization": f"Bearer {settings.bootstrap_api_key}"}
    with TestClient(app) as started:
        assert started.get("/v1/jobs", headers=headers).status_code == 200


def test_cli_creates_a_key_and_prints_it_once(tmp_path: Path) -> None:
    """`keys create` prints a key whose hash is in the database."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade_to_head(url)
    env = {**os.environ, "SECATEUR_DATABASE_URL": url, "SECATEUR_DATA_DIR": str(tmp_path)}
    command = [
        sys.executable,
        "-c",
        "from app.keys.cli import keys_app; keys_app()",
        "create",
        "--name",
        "dave",
    ]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    secret = done.stdout.strip().splitlines()[-1]
    assert secret.startswith(KEY_PREFIX)
    engine = make_engine(url)
    with Session(engine) as session:
        row = session.scalars(select(ApiKey).where(ApiKey.name == "dave")).one()
        assert row.key_hash == hash_key(secret)
    engine.dispose()


def test_start_up_on_an_unmigrated_database_says_what_to_do(
    app: FastAPI, settings: Settings, tmp_path: Path
) -> None:
    """Without migrations, start-up fails with a message that points at the migration step."""
    engine = make_engine(f"sqlite:///{tmp_path / 'blank.db'}")
    app.dependency_overrides[get_session_factory] = lambda: sessionmaker(engine)
    settings.bootstrap_api_key = "sk-sec-bootstrap-at-start-up"
    with pytest.raises(RuntimeError, match="alembic upgrade head"), TestClient(app):
        pass
    engine.dispose()


def _cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `secateur keys …` against the database at `url`."""
    env = {**os.environ, "SECATEUR_DATABASE_URL": url, "SECATEUR_DATA_DIR": str(tmp_path), "COLUMNS": "200"}
    command = [sys.executable, "-c", "from app.keys.cli import keys_app; keys_app()", *args]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_cli_lists_and_revokes_keys_and_revocation_is_immediate(
    tmp_path: Path, app: FastAPI, settings: Settings
) -> None:
    """`keys revoke` sets revoked_at; the very next request with the key is 401; `keys list` shows it."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    factory = sessionmaker(engine, expire_on_commit=False)
    with factory() as session:
        row, secret = create_key(session, "erin")
        session.commit()
    app.dependency_overrides[get_session_factory] = lambda: factory
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(app) as client:
        assert client.get("/v1/jobs", headers=headers).status_code == 200
        revoked = _cli(tmp_path, url, "revoke", row.id)
        assert revoked.returncode == 0, revoked.stderr
        assert client.get("/v1/jobs", headers=headers).status_code == 401
    listed = _cli(tmp_path, url, "list")
    assert listed.returncode == 0, listed.stderr
    line = next(line for line in listed.stdout.splitlines() if row.id in line)
    assert "erin" in line and row.prefix in line and line.count("20") >= 2  # created and revoked dates
    assert secret not in listed.stdout
    unknown = _cli(tmp_path, url, "revoke", "key_nope")
    assert unknown.returncode != 0 and "no key 'key_nope'" in unknown.stderr
    engine.dispose()
