"""Upload, check, list and delete files; blobs live in storage, metadata in the database."""

import codecs
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath
from typing import BinaryIO

from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import ProblemError, field_error
from app.core.storage import Storage, TooLarge
from app.files import repository
from app.files.archive import ARCHIVE_SUFFIXES, ArchiveError, archive_kind, check_archive
from app.files.schemas import Purpose
from app.models import File, new_id

CHUNK_BYTES = 1024 * 1024
DATASET_SUFFIXES = (".csv", ".tsv", ".jsonl", ".txt", ".conll")
_HEAD_BYTES = 64 * 1024


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    """Read an upload in fixed-size chunks so it is never whole in memory."""
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk


def _suffix(filename: str, purpose: Purpose) -> str:
    """The accepted suffix of `filename` for `purpose`; 422 naming `file` otherwise."""
    lower = filename.lower()
    allowed = ARCHIVE_SUFFIXES if purpose == "model" else DATASET_SUFFIXES
    for suffix in allowed:
        if lower.endswith(suffix):
            return suffix
    raise field_error("file", f"a {purpose} file must end in one of {', '.join(allowed)}; got {filename!r}")


@contextmanager
def _local_copy(storage: Storage, key: str) -> Iterator[Path]:
    """A local path to a stored blob: the blob itself for local storage, else a temporary copy."""
    local = storage.local_path(key)
    if local is not None:
        yield local
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / PurePath(key).name
        storage.fetch(key, path)
        yield path


def _check_dataset(path: Path, size: int) -> None:
    """A dataset must be non-empty and start as UTF-8 text."""
    if size == 0:
        raise ProblemError(400, "The dataset file is empty.", slug="invalid-dataset", title="Invalid dataset")
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        head = handle.read(_HEAD_BYTES)
    try:
        # final=False: the head may end inside a multi-byte character.
        decoder.decode(head, final=size <= _HEAD_BYTES)
    except UnicodeDecodeError as exc:
        raise ProblemError(
            400,
            f"The dataset is not UTF-8 text (byte {exc.start} is invalid).",
            slug="invalid-dataset",
            title="Invalid dataset",
        ) from exc


def upload(
    session: Session,
    storage: Storage,
    settings: Settings,
    owner_id: str,
    purpose: Purpose,
    filename: str | None,
    stream: BinaryIO,
) -> File:
    """Stream an upload to storage under its size limit, check it, and record it."""
    name = PurePath((filename or "").replace("\\", "/")).name.strip()
    if not name:
        raise field_error("file", "the upload needs a file name")
    if len(name) > 255:
        raise field_error("file", "the file name is longer than 255 characters")
    suffix = _suffix(name, purpose)
    file_id = new_id("file")
    key = f"files/{file_id}{suffix}"
    limit = settings.max_model_upload_bytes if purpose == "model" else settings.max_dataset_upload_bytes
    try:
        size, sha256 = storage.save_stream(key, _chunks(stream), limit=limit)
    except TooLarge as exc:
        raise ProblemError(
            413, f"A {purpose} file may be at most {limit} bytes.", slug="file-too-large"
        ) from exc
    try:
        with _local_copy(storage, key) as path:
            if purpose == "model":
                _check_model(path, name, settings.max_unpacked_bytes)
            else:
                _check_dataset(path, size)
        row = repository.add(
            session,
            File(
                id=file_id,
                owner_id=owner_id,
                purpose=purpose,
                filename=name,
                bytes=size,
                sha256=sha256,
                storage_key=key,
            ),
        )
        session.commit()
    except BaseException:
        # Nothing is kept for a refused or unrecorded upload.
        storage.delete(key)
        raise
    return row


def _check_model(path: Path, filename: str, max_unpacked: int) -> None:
    """Run the archive checks, turning a failure into a 400 problem that names the member."""
    assert archive_kind(filename) is not None
    try:
        check_archive(path, filename, max_unpacked)
    except ArchiveError as exc:
        errors = [{"field": "file", "member": exc.member, "message": exc.reason}]
        raise ProblemError(
            400,
            f"The model archive was refused: {exc}",
            slug="invalid-archive",
            title="Invalid model archive",
            errors=errors,
        ) from exc


def get(session: Session, owner_id: str, file_id: str) -> File:
    """The caller's file, or 404."""
    row = repository.get_owned(session, owner_id, file_id)
    if row is None:
        raise ProblemError(404, f"No file {file_id!r}.", slug="not-found")
    return row


def list_files(session: Session, owner_id: str, limit: int, after: str | None) -> tuple[list[File], bool]:
    """One page of the caller's files, newest first, and whether more follow."""
    cursor = None
    if after is not None:
        cursor = repository.get_owned(session, owner_id, after)
        if cursor is None:
            raise field_error("after", f"no file {after!r} to page after")
    rows = repository.list_page(session, owner_id, limit, cursor)
    return rows[:limit], len(rows) > limit


def delete(session: Session, storage: Storage, owner_id: str, file_id: str) -> None:
    """Delete the caller's file and its blob; 409 while an unfinished job uses it."""
    row = get(session, owner_id, file_id)
    users = repository.active_jobs_using(session, owner_id, file_id)
    if users:
        raise ProblemError(
            409, f"File {file_id!r} is used by unfinished job(s): {', '.join(users)}.", slug="file-in-use"
        )
    key = row.storage_key
    repository.delete(session, row)
    session.commit()
    storage.delete(key)
