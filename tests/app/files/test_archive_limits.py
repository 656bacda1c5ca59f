"""Archive bounds enforced while reading: entry count, unpack ratio, corrupt members."""

import io
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from secateur.kernel.files.archive import ArchiveError, check_archive
from secateur.kernel.files.extract import safe_extract
from secateur.kernel.settings import Settings
from tests.support.tiny_safetensors import model_files

MODEL = model_files()
BIG = Settings(_env_file=None, max_unpacked_bytes=1024**3, max_archive_entries=50)


def _write(tmp_path: Path, name: str, payload: bytes) -> Path:
    """Write `payload` under tmp_path."""
    path = tmp_path / name
    path.write_bytes(payload)
    return path


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_too_many_entries_are_refused(
    tmp_path: Path, tar_gz: Callable[..., bytes], zip_bytes: Callable[..., bytes], kind: str
) -> None:
    """A model with more entries than max_archive_entries is refused, however small the entries."""
    entries = [*MODEL, *((f"junk/{i}.txt", b"") for i in range(60))]
    archive = _write(tmp_path, f"m.{kind}", (tar_gz if kind == "tar.gz" else zip_bytes)(entries))
    with pytest.raises(ArchiveError, match="more than 50 entries"):
        check_archive(archive, archive.name, BIG)
    check_archive(archive, archive.name, BIG.model_copy(update={"max_archive_entries": 100}))


def test_a_zip_directory_too_large_for_the_entry_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    """The central directory's declared size is judged before zipfile reads a single record."""
    names = [f"{'x' * 1000}/{i}" for i in range(60)]  # ~1 KiB per record, 60 records > 50 allowed
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in names:
            archive.writestr(name, b"")
    archive_path = _write(tmp_path, "m.zip", buffer.getvalue())
    with pytest.raises(ArchiveError, match=r"central directory|more than 50 entries"):
        check_archive(archive_path, "m.zip", BIG)


def test_a_gzip_bomb_is_refused_by_its_unpack_ratio_while_reading(
    tmp_path: Path, tar_gz: Callable[..., bytes]
) -> None:
    """Zeros pack ~1000:1; the stream stops at the ratio, long before the member's declared size."""
    archive = _write(tmp_path, "m.tar.gz", tar_gz([("zeros.bin.txt", b"\x00" * (32 * 1024 * 1024)), *MODEL]))
    assert archive.stat().st_size < 256 * 1024
    with pytest.raises(ArchiveError, match="more than 100 times its packed size"):
        check_archive(archive, "m.tar.gz", BIG)


def test_a_corrupt_zip_member_is_an_archive_error_when_extracting(tmp_path: Path) -> None:
    """A member whose bytes do not match its CRC is the archive's fault (invalid model), not ours."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, payload in MODEL:
            archive.writestr(name, payload)
        archive.writestr("vocab.txt", b"hello world " * 100)
    raw = bytearray(buffer.getvalue())
    at = raw.find(b"hello world")
    raw[at : at + 5] = b"HELLO"  # the stored bytes change, the recorded CRC does not
    path = _write(tmp_path, "m.zip", bytes(raw))
    with pytest.raises(ArchiveError, match="corrupt"):
        safe_extract(path, tmp_path / "out", BIG)
    assert not (tmp_path / "out").exists()


def test_a_truncated_tar_gz_is_refused(tmp_path: Path, tar_gz: Callable[..., bytes]) -> None:
    """A .tar.gz cut short is not readable."""
    payload = tar_gz([*MODEL, ("vocab.txt", bytes(range(256)) * 400)])
    archive = _write(tmp_path, "m.tar.gz", payload[: len(payload) // 2])
    with pytest.raises(ArchiveError, match="not a readable tar archive"):
        check_archive(archive, "m.tar.gz", BIG)


def test_tarfile_entries_stream_in_order(tmp_path: Path) -> None:
    """Config and weights inside one folder are found however the tar orders them."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, payload in reversed(MODEL):
            info = tarfile.TarInfo(f"tiny/{name}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    check_archive(_write(tmp_path, "m.tgz", buffer.getvalue()), "m.tgz", BIG)
