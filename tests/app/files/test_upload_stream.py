"""Uploads over real HTTP: a hard byte limit whatever the framing, nothing kept past it."""

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from app.core.problems import FileTooLarge, InvalidField, ProblemError
from app.files.upload_stream import Received, _one_error
from secateur.kernel.settings import Settings
from secateur.kernel.storage import TooLarge

BOUNDARY = "secateur-test-boundary"
CHUNK = b"a,b\n" * 16384  # 64 KiB


def _form_head(purpose: str, filename: str) -> bytes:
    """The multipart bytes before the file's content."""
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\n{purpose}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()


def _blobs(settings: Settings, tmp_path: Path) -> list[Path]:
    """Every file left in blob storage."""
    return [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]


def test_a_chunked_upload_over_the_limit_is_refused_without_reading_it(
    live_server: str, caller: Any, settings: Settings, tmp_path: Path
) -> None:
    """No Content-Length: the server stops reading at the limit and keeps nothing."""
    total = 64 * 1024 * 1024
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield _form_head("dataset", "big.csv")
        while sent < total:
            sent += len(CHUNK)
            yield CHUNK
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    headers = {**caller.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    response = httpx.post(f"{live_server}/v1/files", content=body(), headers=headers, timeout=30)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert str(settings.max_dataset_upload_bytes) in response.json()["detail"]
    assert sent < total // 2  # refused while streaming, not after the whole body
    assert _blobs(settings, tmp_path) == []


def test_a_chunked_upload_under_the_limit_is_stored(
    live_server: str, caller: Any, settings: Settings, tmp_path: Path
) -> None:
    """The same framing under the limit is an ordinary upload."""

    def body() -> Iterator[bytes]:
        yield _form_head("dataset", "small.csv")
        yield b"sentence,label\nnice,1\n"
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    headers = {**caller.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    response = httpx.post(f"{live_server}/v1/files", content=body(), headers=headers, timeout=30)
    assert response.status_code == 201, response.text
    assert response.json()["bytes"] == len(b"sentence,label\nnice,1\n")
    assert len(_blobs(settings, tmp_path)) == 1


def test_a_body_cut_short_is_refused_and_not_kept(
    live_server: str, caller: Any, settings: Settings, tmp_path: Path
) -> None:
    """A file part without its closing boundary is not a complete upload."""

    def body() -> Iterator[bytes]:
        yield _form_head("dataset", "cut.csv")
        yield b"sentence,label\nnice,1\n"

    headers = {**caller.headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    response = httpx.post(f"{live_server}/v1/files", content=body(), headers=headers, timeout=30)
    assert response.status_code == 422, response.text
    assert "ended before" in response.json()["detail"]
    assert _blobs(settings, tmp_path) == []


def test_a_stalled_body_is_answered_408(live_server: str, caller: Any, settings: Settings) -> None:
    """A client that declares a body and stops sending gets 408 after body_read_timeout_s."""
    settings.body_read_timeout_s = 0.5
    host, port = live_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            f"POST /v1/files HTTP/1.1\r\nHost: x\r\n{_auth(caller)}"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: 100000\r\n\r\n"
        )
        sock.sendall(head.encode() + _form_head("dataset", "slow.csv"))
        answer = sock.recv(65536).decode()
    assert answer.startswith("HTTP/1.1 408"), answer
    assert "body-timeout" in answer


def _auth(caller: Any) -> str:
    """The Authorization header line of `caller`."""
    return f"Authorization: {caller.headers['Authorization']}\r\n"


def test_a_declared_huge_body_is_refused_and_the_connection_closed(live_server: str, caller: Any) -> None:
    """Content-Length: 4 GiB gets 413 at once, and the server closes instead of waiting for the body."""
    host, port = live_server.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            f"POST /v1/files HTTP/1.1\r\nHost: x\r\n{_auth(caller)}"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {4 * 1024**3}\r\n\r\n"
        )
        sock.sendall(head.encode())
        answer = b""
        while chunk := sock.recv(65536):  # ends only when the server closes the connection
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"connection: close" in answer.lower()  # closed now, not after a keep-alive timeout


def test_when_the_reader_and_the_writer_both_fail_one_error_answers(settings: Settings) -> None:
    """Both halves of an upload may see the limit at once; the answer is one 413, never a group's 500."""
    both = ExceptionGroup("upload", [FileTooLarge("over"), TooLarge("over")])
    error = _one_error(both, settings, Received())
    assert isinstance(error, ProblemError) and error.status == 413
    nested = ExceptionGroup(
        "upload", [ExceptionGroup("writer", [OSError("disk")]), InvalidField("file", "x")]
    )
    assert isinstance(_one_error(nested, settings, Received()), ProblemError)
    assert isinstance(_one_error(ExceptionGroup("upload", [OSError("disk")]), settings, Received()), OSError)
