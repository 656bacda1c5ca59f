"""Upload, check, list and delete files; blobs live in storage, metadata in the database."""

import codecs
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath

from sqlalchemy.orm import Session

from app.core.problems import (
    FileInUse,
    InvalidArchive,
    InvalidDataset,
    InvalidField,
    InvalidModel,
    NotFound,
)
from app.files import repository
from app.files.schemas import Purpose
from app.files.upload_stream import Received, too_large, upload_limit
from secateur.kernel.files.archive import ARCHIVE_SUFFIXES, ArchiveError, archive_kind, check_archive
from secateur.kernel.files.model_check import ModelCheckError
from secateur.kernel.models import File
from secateur.kernel.settings import Settings
from secateur.kernel.storage import Storage

DATASET_SUFFIXES = (".csv", ".tsv", ".jsonl", ".txt", ".conll")
UPLOAD_SUFFIXES = ARCHIVE_SUFFIXES + DATASET_SUFFIXES
_HEAD_BYTES = 64 * 1024


def _suffix(filename: str, purpose: Purpose) -> str:
    """The accepted suffix of `filename` for `purpose`; 422 naming `file` otherwise."""
    lower = filename.lower()
    allowed = ARCHIVE_SUFFIXES if purpose == "model" else DATASET_SUFFIXES
    for suffix in allowed:
        if lower.endswith(suffix):
            return suffix
    raise InvalidField("file", f"a {purpose} file must end in one of {', '.join(allowed)}; got {filename!r}")


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
        raise InvalidDataset("The dataset file is empty.")
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        head = handle.read(_HEAD_BYTES)
    try:
        # final=False: the head may end inside a multi-byte character.
        decoder.decode(head, final=size <= _HEAD_BYTES)
    except UnicodeDecodeError as exc:
        raise InvalidDataset(f"The dataset is not UTF-8 text (byte {exc.start} is invalid).") from exc


def check_upload(storage: Storage, settings: Settings, received: Received) -> tuple[Purpose, str]:
    """Check a stored upload: the purpose, the file's name and size, then its contents (slow)."""
    purpose = received.purpose
    if purpose is None:
        raise InvalidField("purpose", "the form needs a `purpose` field (model or dataset)")
    if purpose not in ("model", "dataset"):
        raise InvalidField("purpose", f"must be 'model' or 'dataset', not {purpose!r}")
    if received.key is None or received.filename is None:
        raise InvalidField("file", "the form needs a `file` part")
    if not received.complete:
        raise InvalidField("file", "the upload ended before the file part was complete")
    name = received.filename
    checked: Purpose = "model" if purpose == "model" else "dataset"
    _suffix(name, checked)
    limit = upload_limit(settings, purpose)
    if received.size > limit:
        raise too_large(limit, f"A {purpose} file")
    with _local_copy(storage, received.key) as path:
        if purpose == "model":
            _check_model(path, name, settings)
        else:
            _check_dataset(path, received.size)
    return checked, name


def record_upload(session: Session, owner_id: str, purpose: Purpose, received: Received) -> File:
    """Insert the checked upload's row; a short transaction of its own."""
    assert received.key is not None and received.filename is not None
    row = repository.add(
        session,
        File(
            id=received.file_id,
            owner_id=owner_id,
            purpose=purpose,
            filename=received.filename,
            bytes=received.size,
            sha256=received.sha256,
            storage_key=received.key,
        ),
    )
    session.commit()
    return row


def _check_model(path: Path, filename: str, settings: Settings) -> None:
    """Run the archive and model checks, turning a failure into a 400 problem that names the culprit."""
    assert archive_kind(filename) is not None
    try:
        check_archive(path, filename, settings)
    except ArchiveError as exc:
        errors = [{"field": "file", "member": exc.member, "message": exc.reason}]
        raise InvalidArchive(f"The model archive was refused: {exc}", errors=errors) from exc
    except ModelCheckError as exc:
        errors = [{"field": "file", "tensor": exc.tensor, "message": exc.reason}]
        raise InvalidModel(f"The model was refused: {exc}", errors=errors) from exc


def get(session: Session, owner_id: str, file_id: str) -> File:
    """The caller's file, or 404."""
    row = repository.get_owned(session, owner_id, file_id)
    if row is None:
        raise NotFound(f"No file {file_id!r}.")
    return row


def list_files(session: Session, owner_id: str, limit: int, after: str | None) -> tuple[list[File], bool]:
    """One page of the caller's files, newest first, and whether more follow."""
    cursor = None
    if after is not None:
        cursor = repository.get_owned(session, owner_id, after)
        if cursor is None:
            raise InvalidField("after", f"no file {after!r} to page after")
    rows = repository.list_page(session, owner_id, limit, cursor)
    return rows[:limit], len(rows) > limit


def delete(session: Session, storage: Storage, owner_id: str, file_id: str) -> None:
    """Delete the caller's file and its blob; 409 while an unfinished job uses it."""
    row = get(session, owner_id, file_id)
    users = repository.active_jobs_using(session, owner_id, file_id)
    if users:
        raise FileInUse(f"File {file_id!r} is used by unfinished job(s): {', '.join(users)}.")
    key = row.storage_key
    repository.delete(session, row)
    session.commit()
    storage.delete(key)
