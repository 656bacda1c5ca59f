"""Browser-test fixtures: Debian's Chromium driven by Playwright, and the API served on a loopback port."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from sqlalchemy.orm import Session, sessionmaker

from app.api.deps import get_session_factory, get_store
from app.keys.service import create_key
from app.main import create_app
from secateur.kernel.db import make_engine
from secateur.kernel.migrate import upgrade_to_head
from secateur.kernel.settings import Settings, get_settings
from secateur.kernel.storage import LocalStorage
from tests.support.services import unavailable

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def chromium_path() -> str | None:
    """SECATEUR_CHROMIUM, else a Chromium on PATH or in the usual Debian places."""
    candidates = [os.environ.get("SECATEUR_CHROMIUM"), shutil.which("chromium"), *CHROMIUM_PATHS]
    return next((c for c in candidates if c and Path(c).is_file()), None)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium; Playwright's own browser download is never used."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the `playwright` package is not installed (make install puts it in .venv)")
    path = chromium_path()
    if path is None:
        unavailable(
            "no Chromium found (looked at SECATEUR_CHROMIUM, PATH, /usr/bin/chromium): "
            "`apt-get install chromium` (make install does it when run as root with apt)"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@dataclass
class Live:
    """The served API: its base URL, a session factory on its database, its storage and a key."""

    url: str
    sessions: sessionmaker[Session]
    storage: LocalStorage
    owner_id: str
    key: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """The real application under uvicorn on 127.0.0.1, on a fresh migrated SQLite database."""
    url = f"sqlite:///{tmp_path / 'ui.db'}"
    upgrade_to_head(url)
    engine = make_engine(url)
    sessions = sessionmaker(engine, expire_on_commit=False)
    storage = LocalStorage(tmp_path / "blobs")
    settings = Settings(_env_file=None, data_dir=tmp_path, database_url=url, queue="local")
    app = create_app()
    app.dependency_overrides[get_settings] = lambda: settings
    app.dependency_overrides[get_session_factory] = lambda: sessions
    app.dependency_overrides[get_store] = lambda: storage
    with sessions() as session:
        row, key = create_key(session, "browser")
        session.commit()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.05)
    yield Live(f"http://127.0.0.1:{port}", sessions, storage, row.id, key)
    server.should_exit = True
    thread.join(10)
    engine.dispose()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser tab (its own sessionStorage)."""
    context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    yield tab
    context.close()
