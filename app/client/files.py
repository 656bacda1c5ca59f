"""Files: upload model archives (a directory is packed to .tar.gz first) and datasets."""

import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from app.client.models import FileDeleted, FileList, FileOut, Purpose
from app.client.pages import every

if TYPE_CHECKING:
    from app.client.client import SecateurClient

MODEL_SUFFIXES = (".tar.gz", ".tgz", ".zip")


def guess_purpose(path: Path) -> Purpose:
    """A directory or an archive is a model; anything else is a dataset."""
    if path.is_dir() or path.name.lower().endswith(MODEL_SUFFIXES):
        return "model"
    return "dataset"


def pack_directory(directory: Path, target: BinaryIO) -> None:
    """Write `directory` as a .tar.gz with one top-level folder; symlinks (e.g. a hub cache) are followed."""
    with tarfile.open(fileobj=target, mode="w:gz", dereference=True) as tar:
        tar.add(directory, arcname=directory.resolve().name)


class Files:
    """`/v1/files`."""

    def __init__(self, client: "SecateurClient") -> None:
        self._client = client

    def upload(self, path: Path | str, purpose: Purpose | None = None) -> FileOut:
        """Upload a file, or a model directory packed to .tar.gz; never retried (not idempotent)."""
        path = Path(path)
        purpose = purpose or guess_purpose(path)
        if path.is_dir():
            with tempfile.TemporaryFile(suffix=".tar.gz") as packed:
                pack_directory(path, packed)
                packed.seek(0)
                return self._send(f"{path.resolve().name}.tar.gz", packed, purpose)
        with path.open("rb") as handle:
            return self._send(path.name, handle, purpose)

    def _send(self, filename: str, handle: BinaryIO, purpose: Purpose) -> FileOut:
        """One multipart upload."""
        files = {"file": (filename, handle, "application/octet-stream")}
        body = self._client.json("POST", "/v1/files", files=files, data={"purpose": purpose})
        return FileOut.model_validate(body)

    def list(self, limit: int = 20, after: str | None = None) -> FileList:
        """One page of files, newest first."""
        params: dict[str, str | int] = {"limit": limit} | ({"after": after} if after else {})
        return FileList.model_validate(self._client.json("GET", "/v1/files", params=params))

    def iter(self, page_size: int = 100) -> Iterator[FileOut]:
        """Every file, newest first, page after page."""
        return every(lambda after: self.list(limit=page_size, after=after))

    def get(self, file_id: str) -> FileOut:
        """One file."""
        return FileOut.model_validate(self._client.json("GET", f"/v1/files/{file_id}"))

    def delete(self, file_id: str) -> FileDeleted:
        """Delete a file and its bytes."""
        return FileDeleted.model_validate(self._client.json("DELETE", f"/v1/files/{file_id}"))
