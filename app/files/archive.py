"""Check a model archive before anything uses it, and unpack it safely (for the worker)."""

import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO

from app.core.config import get_settings

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
# Formats that unpickle on load and so can run arbitrary code.
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz"})
_CHUNK = 1024 * 1024


class ArchiveError(ValueError):
    """The archive is unsafe or not a usable model; `member` names the offending entry, if any."""

    def __init__(self, message: str, member: str | None = None) -> None:
        """Keep the reason and the offending member apart, for the API's `errors` list."""
        super().__init__(f"{member}: {message}" if member else message)
        self.member, self.reason = member, message


@dataclass(frozen=True)
class _Member:
    """What the checks need to know about one archive entry."""

    name: str
    size: int
    is_dir: bool
    is_file: bool


def archive_kind(filename: str) -> str | None:
    """'tar' or 'zip' from the file name, or None when it is not an accepted archive."""
    lower = filename.lower()
    if lower.endswith((".tar.gz", ".tgz")):
        return "tar"
    return "zip" if lower.endswith(".zip") else None


def _tar_members(tar: tarfile.TarFile) -> Iterator[_Member]:
    """The entries of a tar, refusing links, devices, FIFOs and sparse files."""
    for info in tar:
        if info.issym() or info.islnk():
            raise ArchiveError("links are not allowed", info.name)
        if info.isdev() or info.isfifo() or info.issparse():
            raise ArchiveError("only regular files and directories are allowed", info.name)
        if not (info.isfile() or info.isdir()):
            raise ArchiveError("unsupported entry type", info.name)
        yield _Member(info.name, info.size, info.isdir(), info.isfile())


def _zip_members(archive: zipfile.ZipFile) -> Iterator[_Member]:
    """The entries of a zip, refusing members whose Unix mode marks a link or device."""
    for info in archive.infolist():
        kind = stat.S_IFMT(info.external_attr >> 16)
        # Zip has no link type of its own; Unix zips mark symlinks in the mode's file-type bits.
        if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
            raise ArchiveError("links and special files are not allowed", info.filename)
        yield _Member(info.filename, info.file_size, info.is_dir(), not info.is_dir())


def _check_name(name: str) -> PurePosixPath:
    """The member's relative path, refusing absolute paths, drive letters and `..`."""
    if not name or "\x00" in name:
        raise ArchiveError("empty or NUL-containing name", name or "<empty>")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError("absolute paths are not allowed", name)
    path = PurePosixPath(name.replace("\\", "/"))
    if ".." in path.parts:
        raise ArchiveError("'..' is not allowed in paths", name)
    return path


def _check_members(members: Iterator[_Member], max_unpacked: int) -> list[_Member]:
    """Apply every rule; returns the regular files."""
    files: list[_Member] = []
    total = 0
    for member in members:
        path = _check_name(member.name)
        if member.is_dir:
            continue
        if any(path.name.lower().endswith(suffix) for suffix in PICKLE_SUFFIXES):
            raise ArchiveError(
                "pickle-based weights are refused; upload safetensors weights instead", member.name
            )
        total += member.size
        if total > max_unpacked:
            raise ArchiveError(f"unpacked size exceeds the limit of {max_unpacked} bytes", member.name)
        files.append(member)
    names = [PurePosixPath(m.name.replace("\\", "/")) for m in files]
    if not any(name.name == "config.json" for name in names):
        raise ArchiveError("the archive has no config.json (a Hugging Face model directory is expected)")
    if not any(name.suffix == ".safetensors" for name in names):
        raise ArchiveError("the archive has no .safetensors weights")
    return files


def check_archive(archive: Path, filename: str, max_unpacked: int) -> None:
    """Raise ArchiveError unless `archive` is a safe model archive; reads headers, never extracts."""
    kind = archive_kind(filename)
    if kind is None:
        raise ArchiveError(f"a model must be a {', '.join(ARCHIVE_SUFFIXES)} archive")
    try:
        if kind == "tar":
            with tarfile.open(archive, mode="r:gz") as tar:
                _check_members(_tar_members(tar), max_unpacked)
        else:
            with zipfile.ZipFile(archive) as zipped:
                _check_members(_zip_members(zipped), max_unpacked)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise ArchiveError(f"not a readable {kind} archive ({exc})") from exc


def _copy_bounded(source: IO[bytes], target: Path, budget: int, name: str) -> int:
    """Copy one member, stopping if it produces more bytes than the remaining budget."""
    written = 0
    with target.open("wb") as out:
        while chunk := source.read(_CHUNK):
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


def safe_extract(archive: Path, dest: Path, max_unpacked: int | None = None) -> Path:
    """Re-check `archive`, unpack it into `dest` byte-bounded, and return the model directory inside."""
    if max_unpacked is None:
        max_unpacked = get_settings().max_unpacked_bytes
    kind = archive_kind(archive.name) or ("zip" if zipfile.is_zipfile(archive) else "tar")
    check_archive(archive, f"model.{'zip' if kind == 'zip' else 'tar.gz'}", max_unpacked)
    dest.mkdir(parents=True, exist_ok=True)
    root = dest.resolve()
    budget = max_unpacked
    try:
        if kind == "tar":
            with tarfile.open(archive, mode="r:gz") as tar:
                for info in tar:
                    opener = partial(tar.extractfile, info)
                    budget -= _extract_one(root, info.name, info.isdir(), opener, budget)
        else:
            with zipfile.ZipFile(archive) as zipped:
                for zinfo in zipped.infolist():
                    zip_opener = partial(zipped.open, zinfo)
                    budget -= _extract_one(root, zinfo.filename, zinfo.is_dir(), zip_opener, budget)
    except ArchiveError:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return _model_root(root)


def _extract_one(
    root: Path, name: str, is_dir: bool, opener: Callable[[], IO[bytes] | None], budget: int
) -> int:
    """Write one checked member under `root`; returns the bytes written."""
    target = (root / _check_name(name)).resolve()
    if not target.is_relative_to(root):
        raise ArchiveError("path escapes the destination", name)
    if is_dir:
        target.mkdir(parents=True, exist_ok=True)
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    source = opener()
    if source is None:
        raise ArchiveError("unreadable member", name)
    with source:
        return _copy_bounded(source, target, budget, name)
