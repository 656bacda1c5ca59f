"""Blob storage for uploads, checkpoints and artifacts: a local directory, or an S3-compatible bucket."""

import hashlib
import os
import shutil
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from secateur.kernel.settings import Settings, get_settings


class TooLarge(Exception):
    """A stream went past its byte limit; nothing was kept."""


class Storage(Protocol):
    """What the API and the workers need of a blob store; keys are relative POSIX paths."""

    def save_stream(self, key: str, chunks: Iterable[bytes], limit: int | None = None) -> tuple[int, str]: ...
    def put_file(self, key: str, path: Path) -> None: ...
    def fetch(self, key: str, path: Path) -> None: ...
    def delete(self, key: str) -> None: ...
    def delete_prefix(self, prefix: str) -> None: ...
    def exists(self, key: str) -> bool: ...
    def local_path(self, key: str) -> Path | None: ...
    def presigned_url(self, key: str, filename: str) -> str | None: ...


def _hash_to(chunks: Iterable[bytes], target: Path, limit: int | None) -> tuple[int, str]:
    """Write chunks to `target`, returning (bytes, sha256); past `limit` the file is removed."""
    digest, size = hashlib.sha256(), 0
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        with _private_open(target) as out:
            for chunk in chunks:
                size += len(chunk)
                if limit is not None and size > limit:
                    raise TooLarge(f"more than {limit} bytes")
                digest.update(chunk)
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return size, digest.hexdigest()


def _private_open(path: Path) -> BinaryIO:
    """Open `path` for writing, created owner-only (0600) whatever the umask."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb")


class LocalStorage:
    """Blobs as files under one root directory; writes land via a temporary name and a rename."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root):
            raise ValueError(f"storage key escapes the root: {key!r}")
        return path

    def save_stream(self, key: str, chunks: Iterable[bytes], limit: int | None = None) -> tuple[int, str]:
        path = self._path(key)
        tmp = path.with_name(path.name + ".part")
        result = _hash_to(chunks, tmp, limit)
        tmp.replace(path)
        return result

    def put_file(self, key: str, path: Path) -> None:
        target = self._path(key)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        try:
            with path.open("rb") as source, _private_open(tmp) as out:
                shutil.copyfileobj(source, out, 1024 * 1024)
        except BaseException:
            tmp.unlink(missing_ok=True)  # a disk that filled up mid-copy keeps no partial file
            raise
        tmp.replace(target)

    def fetch(self, key: str, path: Path) -> None:
        shutil.copyfile(self._path(key), path)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        shutil.rmtree(self._path(prefix), ignore_errors=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def presigned_url(self, key: str, filename: str) -> str | None:
        return None


class S3Storage:
    """Blobs in an S3-compatible bucket; downloads are short-lived presigned redirects."""

    def __init__(self, bucket: str, prefix: str = "", endpoint_url: str | None = None, presign_s: int = 300):
        import boto3  # optional dependency, only for S3 deployments

        self.client: Any = boto3.client("s3", endpoint_url=endpoint_url)
        self.bucket, self.prefix, self.presign_s = bucket, prefix.strip("/"), presign_s

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def save_stream(self, key: str, chunks: Iterable[bytes], limit: int | None = None) -> tuple[int, str]:
        import tempfile

        # Spool to disk first so the size limit and the hash are known before anything is uploaded.
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "blob"
            result = _hash_to(chunks, path, limit)
            self.put_file(key, path)
        return result

    def put_file(self, key: str, path: Path) -> None:
        self.client.upload_file(str(path), self.bucket, self._key(key))

    def fetch(self, key: str, path: Path) -> None:
        self.client.download_file(self.bucket, self._key(key), str(path))

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def delete_prefix(self, prefix: str) -> None:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
            for item in page.get("Contents", []):
                self.client.delete_object(Bucket=self.bucket, Key=item["Key"])

    def exists(self, key: str) -> bool:
        response = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(key), MaxKeys=1)
        return any(item["Key"] == self._key(key) for item in response.get("Contents", []))

    def local_path(self, key: str) -> Path | None:
        return None

    def presigned_url(self, key: str, filename: str) -> str | None:
        url: str = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "ResponseContentDisposition": f'attachment; filename="{filename}"',
            },
            ExpiresIn=self.presign_s,
        )
        return url


def storage_from_settings(settings: Settings) -> Storage:
    """The store the settings choose."""
    if settings.storage == "s3":
        if not settings.s3_bucket:
            raise ValueError("SECATEUR_STORAGE=s3 needs SECATEUR_S3_BUCKET")
        return S3Storage(
            settings.s3_bucket, settings.s3_prefix, settings.s3_endpoint_url, settings.presign_seconds
        )
    return LocalStorage(settings.data_dir / "blobs")


@lru_cache
def get_storage() -> Storage:
    """The process-wide store."""
    return storage_from_settings(get_settings())
