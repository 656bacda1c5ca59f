"""Unpack a checked model archive into a directory, byte-bounded, and find the model inside."""

import shutil
import tarfile
import zipfile
import zlib
from functools import partial
from pathlib import Path
from typing import IO

from secateur.kernel.files.archive import (
    CHUNK,
    ArchiveError,
    Opener,
    archive_kind,
    check_archive,
    check_name,
    open_member,
)
from secateur.kernel.settings import Settings, get_settings


def _copy_bounded(source: IO[bytes], target: Path, budget: int, name: str) -> int:
    """Copy one member, stopping if it produces more bytes than the remaining budget."""
    written = 0
    with target.open("wb") as out:
        while chunk := source.read(CHUNK):
            written += len(chunk)
            if written > budget:
                raise ArchiveError("unpacked size exceeds the limit", name)
            out.write(chunk)
    return written


def _model_root(dest: Path) -> Path:
    """The directory holding config.json: `dest` itself, or its single top-level folder."""
    if (dest / "config.json").is_file():
        return dest
    entries = list(dest.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and (entries[0] / "config.json").is_file():
        return entries[0]
    raise ArchiveError("config.json must be at the top level or inside a single top-level folder")


def safe_extract(archive: Path, dest: Path, settings: Settings | None = None) -> Path:
    """Re-check `archive`, unpack it into `dest` byte-bounded, and return the model directory inside."""
    settings = settings or get_settings()
    kind = archive_kind(archive.name) or ("zip" if zipfile.is_zipfile(archive) else "tar")
    check_archive(archive, f"model.{'zip' if kind == 'zip' else 'tar.gz'}", settings)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    budget = settings.max_unpacked_bytes
    try:
        if kind == "tar":
            with tarfile.open(archive, mode="r:gz") as tar:
                for info in tar:
                    opener = partial(tar.extractfile, info)
                    budget -= _extract_one(
                        root, name=info.name, is_dir=info.isdir(), opener=opener, budget=budget
                    )
        else:
            with zipfile.ZipFile(archive) as zipped:
                for zinfo in zipped.infolist():
                    zip_opener = partial(zipped.open, zinfo)
                    budget -= _extract_one(
                        root, name=zinfo.filename, is_dir=zinfo.is_dir(), opener=zip_opener, budget=budget
                    )
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        # Size fields that lie only show while inflating: still the archive's fault, not ours.
        shutil.rmtree(root, ignore_errors=True)
        raise ArchiveError(f"the {kind} archive is corrupt ({exc})") from exc
    except ArchiveError:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return _model_root(root)


def _extract_one(root: Path, *, name: str, is_dir: bool, opener: Opener, budget: int) -> int:
    """Write one checked member under `root`; returns the bytes written."""
    target = (root / check_name(name)).resolve()
    if not target.is_relative_to(root):
        raise ArchiveError("path escapes the destination", name)
    if is_dir:
        target.mkdir(parents=True, exist_ok=True)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    with open_member(opener, name) as source:
        return _copy_bounded(source, target, budget, name)
