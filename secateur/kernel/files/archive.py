"""Check a model archive before anything uses it, and unpack it safely (for the worker)."""

import stat
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path, PurePosixPath
from typing import IO, Any, BinaryIO

from secateur.kernel.files.gunzip import RATIO_FLOOR, BoundedGunzip, UnpackLimitError
from secateur.kernel.files.model_check import (
    MAX_CONFIG_BYTES,
    ModelCheckError,
    Shapes,
    check_model,
    parse_config,
    read_header,
)
from secateur.kernel.settings import Settings

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".zip")
# Formats that unpickle on load and so can run arbitrary code.
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz"})
CHUNK = 1024 * 1024
_MAX_WEIGHT_FILES = 32  # safetensors files whose headers are read (shards of one model)
# Tar headers and padding on top of the members' own bytes, per entry.
_TAR_ENTRY_OVERHEAD = 1536
# A zip's central directory may hold at most this many bytes per allowed entry (realistic names fit).
_ZIP_RECORD_BYTES = 1024
Opener = Callable[[], IO[bytes] | None]


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


def _tar_member(info: tarfile.TarInfo) -> _Member:
    """One tar entry, refusing links, devices, FIFOs and sparse files."""
    if info.issym() or info.islnk():
        raise ArchiveError("links are not allowed", info.name)
    if info.isdev() or info.isfifo() or info.issparse():
        raise ArchiveError("only regular files and directories are allowed", info.name)
    if not (info.isfile() or info.isdir()):
        raise ArchiveError("unsupported entry type", info.name)
    return _Member(info.name, info.size, info.isdir(), info.isfile())


def _zip_member(info: zipfile.ZipInfo) -> _Member:
    """One zip entry, refusing members whose Unix mode marks a link or device."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    # Zip has no link type of its own; Unix zips mark symlinks in the mode's file-type bits.
    if kind and kind not in (stat.S_IFREG, stat.S_IFDIR):
        raise ArchiveError("links and special files are not allowed", info.filename)
    return _Member(info.filename, info.file_size, info.is_dir(), not info.is_dir())


def check_name(name: str) -> PurePosixPath:
    """The member's relative path, refusing absolute paths, drive letters and `..`."""
    if not name or "\x00" in name:
        raise ArchiveError("empty or NUL-containing name", name or "<empty>")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError("absolute paths are not allowed", name)
    path = PurePosixPath(name.replace("\\", "/"))
    if ".." in path.parts:
        raise ArchiveError("'..' is not allowed in paths", name)
    return path


class _Scan:
    """What one pass over an archive has seen; every rule is applied as each entry arrives."""

    def __init__(self, settings: Settings) -> None:
        """Start counting against the settings' limits."""
        self.settings, self.entries, self.unpacked = settings, 0, 0
        self.configs: dict[PurePosixPath, bytes] = {}
        self.weights: dict[PurePosixPath, Shapes | ModelCheckError] = {}

    def add(self, member: _Member, opener: Opener) -> None:
        """Check one entry; keep config.json and the safetensors headers near the top."""
        self.entries += 1
        if self.entries > self.settings.max_archive_entries:
            raise ArchiveError(f"the archive has more than {self.settings.max_archive_entries} entries")
        path = check_name(member.name)
        if member.is_dir:
            return
        if any(path.name.lower().endswith(suffix) for suffix in PICKLE_SUFFIXES):
            raise ArchiveError(
                "pickle-based weights are refused; upload safetensors weights instead", member.name
            )
        self.unpacked += member.size
        if self.unpacked > self.settings.max_unpacked_bytes:
            raise ArchiveError(
                f"unpacked size exceeds the limit of {self.settings.max_unpacked_bytes} bytes", member.name
            )
        # The model directory is the top level or one folder: deeper files are never loaded as weights.
        if len(path.parts) <= 2 and path.name == "config.json":
            if member.size > MAX_CONFIG_BYTES:
                raise ArchiveError(f"config.json is larger than {MAX_CONFIG_BYTES} bytes", member.name)
            self.configs[path] = _read(opener, member.name, MAX_CONFIG_BYTES)
        elif len(path.parts) <= 2 and path.suffix == ".safetensors":
            if len(self.weights) >= _MAX_WEIGHT_FILES:
                raise ArchiveError(f"more than {_MAX_WEIGHT_FILES} .safetensors files", member.name)
            with open_member(opener, member.name) as stream:
                try:
                    self.weights[path] = read_header(stream, member.size, member.name)
                except ModelCheckError as exc:
                    # Unsafe entries later in the archive take precedence over a bad weights file.
                    self.weights[path] = exc

    def model(self) -> tuple[dict[str, Any], Shapes]:
        """The model's config and the shapes of every weight next to it."""
        if not self.configs:
            raise ArchiveError("the archive has no config.json (a Hugging Face model directory is expected)")
        config_path = min(self.configs, key=lambda path: len(path.parts))
        shapes: Shapes = {}
        for path, weights in self.weights.items():
            if path.parent == config_path.parent:
                if isinstance(weights, ModelCheckError):
                    raise weights
                shapes.update(weights)
        if not any(path.parent == config_path.parent for path in self.weights):
            raise ArchiveError("the archive has no .safetensors weights next to config.json")
        return parse_config(self.configs[config_path]), shapes


def open_member(opener: Opener, name: str) -> IO[bytes]:
    """The member's byte stream."""
    stream = opener()
    if stream is None:
        raise ArchiveError("unreadable member", name)
    return stream


def _read(opener: Opener, name: str, limit: int) -> bytes:
    """A small member's bytes, at most `limit` of them."""
    with open_member(opener, name) as stream:
        return stream.read(limit)


def _scan_tar(raw: BinaryIO, settings: Settings, scan: _Scan) -> None:
    """Stream through a .tar.gz once, inflating under the unpacked and ratio bounds."""
    overhead = _TAR_ENTRY_OVERHEAD * (settings.max_archive_entries + 2)
    stream = BoundedGunzip(raw, settings.max_unpacked_bytes + overhead, settings.max_unpack_ratio)
    with tarfile.open(fileobj=stream, mode="r|") as tar:  # type: ignore[call-overload]
        for info in tar:
            scan.add(_tar_member(info), partial(tar.extractfile, info))


def _zip_entry_count(raw: BinaryIO, size: int, limit: int) -> None:
    """Walk the central directory's records, stopping past `limit`, before zipfile parses them all."""
    tail_size = min(size, 22 + 65535)
    raw.seek(size - tail_size)
    tail = raw.read(tail_size)
    end = tail.rfind(b"PK\x05\x06")
    if end < 0 or end + 22 > len(tail):
        raise zipfile.BadZipFile("no end of central directory record")
    end_position = size - tail_size + end
    cd_size, cd_offset = struct.unpack_from("<LL", tail, end + 12)
    if 0xFFFFFFFF in (cd_size, cd_offset) and tail[end - 20 : end - 16] == b"PK\x06\x07":
        (end_position,) = struct.unpack_from("<Q", tail, end - 12)  # where the zip64 record starts
        raw.seek(end_position)
        record = raw.read(56)
        if record[:4] != b"PK\x06\x06" or len(record) < 56:
            raise zipfile.BadZipFile("bad zip64 end of central directory record")
        cd_size, cd_offset = struct.unpack_from("<QQ", record, 40)
    if cd_size > limit * _ZIP_RECORD_BYTES:
        raise ArchiveError(f"the zip's central directory is larger than {limit} entries need")
    raw.seek(max(end_position - cd_size, 0))
    directory, position, count = raw.read(cd_size), 0, 0
    while position + 46 <= len(directory) and directory[position : position + 4] == b"PK\x01\x02":
        count += 1
        if count > limit:
            raise ArchiveError(f"the archive has more than {limit} entries")
        name, extra, comment = struct.unpack_from("<3H", directory, position + 28)
        position += 46 + name + extra + comment


def _scan_zip(raw: BinaryIO, size: int, settings: Settings, scan: _Scan) -> None:
    """Check a zip from its directory; only config.json and the weights' headers are inflated."""
    _zip_entry_count(raw, size, settings.max_archive_entries)
    raw.seek(0)
    with zipfile.ZipFile(raw) as zipped:
        infos = zipped.infolist()
        declared = sum(info.file_size for info in infos)
        if declared > RATIO_FLOOR and declared > settings.max_unpack_ratio * size:
            ratio = settings.max_unpack_ratio
            raise ArchiveError(f"the archive unpacks to more than {ratio:g} times its size")
        for info in infos:
            scan.add(_zip_member(info), partial(zipped.open, info))


def check_archive(archive: Path, filename: str, settings: Settings) -> None:
    """Raise ArchiveError or ModelCheckError unless `archive` is a safe, sound model archive.

    One forward pass over the archive, bounded in entries, unpacked bytes and unpack ratio while it
    reads; it never extracts, and reads only config.json and the safetensors headers.
    """
    kind = archive_kind(filename)
    if kind is None:
        raise ArchiveError(f"a model must be a {', '.join(ARCHIVE_SUFFIXES)} archive")
    scan = _Scan(settings)
    try:
        with archive.open("rb") as raw:
            if kind == "tar":
                _scan_tar(raw, settings, scan)
            else:
                _scan_zip(raw, archive.stat().st_size, settings, scan)
    except UnpackLimitError as exc:
        raise ArchiveError(str(exc)) from exc
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ArchiveError(f"not a readable {kind} archive ({exc})") from exc
    config, shapes = scan.model()
    check_model(config, shapes, settings)
