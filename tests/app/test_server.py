"""The server's own limits (header size), the key shown on terminals only, owner-only data files."""

import contextlib
import io
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from secateur.kernel.db import make_engine
from secateur.kernel.storage import LocalStorage
from secateur.serve import announce_key


def _request(url: str, raw: bytes) -> str:
    """Send raw bytes to the server at `url` and return what it answers first."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        # The server may answer and close before the whole head is sent.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        return sock.recv(65536).decode("latin-1")


def test_a_huge_header_is_refused_and_health_still_answers(live_server: str) -> None:
    """A 4 MiB header is refused once it passes max_header_bytes; /healthz answers meanwhile."""
    big = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (4 * 1024 * 1024) + b"\r\n\r\n"
    answer = _request(live_server, big)
    assert answer.startswith(("HTTP/1.1 400", "HTTP/1.1 431")), answer[:200]
    assert httpx.get(f"{live_server}/healthz", timeout=10).status_code == 200


def test_a_header_under_the_limit_is_served(live_server: str) -> None:
    """Ordinary headers are untouched."""
    answer = _request(
        live_server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Small: " + b"a" * 1000 + b"\r\n\r\n"
    )
    assert answer.startswith("HTTP/1.1 200"), answer[:200]


class _Terminal(io.StringIO):
    """A stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_the_key_is_shown_on_a_terminal_only(tmp_path: Path) -> None:
    """Redirected to a file or a pipe (a log), serve names where the key is instead of printing it."""
    key, source = "sk-sec-secret-for-this-test", str(tmp_path / "api-key")
    terminal, piped = _Terminal(), io.StringIO()
    announce_key(key, source, terminal)
    announce_key(key, source, piped)
    assert key in terminal.getvalue()
    assert key not in piped.getvalue() and source in piped.getvalue()


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A permissive umask, as a careless environment would have."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    """The permission bits of `path`."""
    return stat.S_IMODE(path.stat().st_mode)


def test_blobs_are_owner_only(tmp_path: Path, open_umask: None) -> None:
    """Uploads and copied files are 0600 and their folders 0700, whatever the umask."""
    storage = LocalStorage(tmp_path / "blobs")
    storage.save_stream("files/a.csv", iter([b"x"]))
    source = tmp_path / "src.bin"
    source.write_bytes(b"y")
    storage.put_file("jobs/j/artifact.tar.gz", source)
    assert _mode(tmp_path / "blobs" / "files" / "a.csv") == 0o600
    assert _mode(tmp_path / "blobs" / "jobs" / "j" / "artifact.tar.gz") == 0o600
    assert _mode(tmp_path / "blobs" / "files") == 0o700


def test_a_new_sqlite_database_is_owner_only(tmp_path: Path, open_umask: None) -> None:
    """The database file and its write-ahead log are 0600."""
    engine = make_engine(f"sqlite:///{tmp_path / 'secateur.db'}")
    with engine.connect() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
        connection.commit()
        assert _mode(tmp_path / "secateur.db") == 0o600
        assert _mode(tmp_path / "secateur.db-wal") == 0o600
    engine.dispose()
