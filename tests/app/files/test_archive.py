"""Model archive checks and safe extraction."""

import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from secateur.kernel.files.archive import ArchiveError, check_archive
from secateur.kernel.files.extract import safe_extract
from secateur.kernel.settings import Settings
from tests.support.tiny_safetensors import model_files

MODEL = model_files()
LIMIT = Settings(_env_file=None, max_unpacked_bytes=1024 * 1024)


def _write(tmp_path: Path, name: str, payload: bytes) -> Path:
    """Write `payload` to a file named `name` under tmp_path."""
    path = tmp_path / name
    path.write_bytes(payload)
    return path


def test_a_valid_tar_gz_extracts_into_its_top_level_folder(
    tmp_path: Path, tar_gz: Callable[..., bytes]
) -> None:
    """A model inside one folder passes and extracts to that folder."""
    archive = _write(tmp_path, "m.tar.gz", tar_gz([(f"tiny/{n}", p) for n, p in MODEL]))
    check_archive(archive, "m.tar.gz", LIMIT)
    root = safe_extract(archive, tmp_path / "out", LIMIT)
    assert root == (tmp_path / "out" / "tiny").resolve()
    assert (root / "model.safetensors").read_bytes() == MODEL[1][1]


def test_a_flat_zip_extracts_in_place(tmp_path: Path, zip_bytes: Callable[..., bytes]) -> None:
    """A zip with config.json at the top extracts to the destination itself."""
    archive = _write(tmp_path, "m.zip", zip_bytes(MODEL))
    assert safe_extract(archive, tmp_path / "out", LIMIT) == (tmp_path / "out").resolve()


@pytest.mark.parametrize(
    ("member", "message"),
    [
        ("/etc/evil.json", "absolute"),
        ("../evil.json", "'..'"),
        ("tiny/../../evil.json", "'..'"),
        ("C:/evil.json", "absolute"),
        ("pytorch_model.bin", "pickle"),
        ("weights/model.pt", "pickle"),
        ("optimizer.pkl", "pickle"),
    ],
)
@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_unsafe_members_are_named(
    tmp_path: Path,
    tar_gz: Callable[..., bytes],
    zip_bytes: Callable[..., bytes],
    kind: str,
    member: str,
    message: str,
) -> None:
    """Absolute paths, '..' and pickle weights are refused, naming the member, and nothing escapes."""
    entries = [*MODEL, (member, b"x")]
    payload = tar_gz(entries) if kind == "tar.gz" else zip_bytes(entries)
    archive = _write(tmp_path, f"m.{kind}", payload)
    with pytest.raises(ArchiveError, match=message) as caught:
        check_archive(archive, archive.name, LIMIT)
    assert caught.value.member == member
    with pytest.raises(ArchiveError):
        safe_extract(archive, tmp_path / "out", LIMIT)
    assert not (tmp_path / "evil.json").exists()


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE])
def test_tar_links_and_devices_are_refused(tmp_path: Path, tar_gz: Callable[..., bytes], kind: bytes) -> None:
    """Symlinks, hardlinks, devices and FIFOs in a tar are refused."""
    archive = _write(tmp_path, "m.tgz", tar_gz(MODEL, links={"vocab.txt": (kind, "/etc/passwd")}))
    with pytest.raises(ArchiveError, match=r"vocab\.txt"):
        check_archive(archive, "m.tgz", LIMIT)


def test_zip_symlinks_are_refused(tmp_path: Path, zip_bytes: Callable[..., bytes]) -> None:
    """A zip member whose Unix mode is a symlink is refused."""
    archive = _write(tmp_path, "m.zip", zip_bytes(MODEL, symlinks={"vocab.txt": "/etc/passwd"}))
    with pytest.raises(ArchiveError, match=r"vocab\.txt: links"):
        check_archive(archive, "m.zip", LIMIT)


def test_a_zip_bomb_over_the_unpacked_limit_is_refused(
    tmp_path: Path, zip_bytes: Callable[..., bytes]
) -> None:
    # 8 MiB of zeros deflates to a few KiB: small upload, big unpack.
    """A small zip that unpacks past the limit is refused by the check and by extraction."""
    bomb = ("model-2.safetensors", b"\x00" * (8 * LIMIT.max_unpacked_bytes))
    archive = _write(tmp_path, "m.zip", zip_bytes([*MODEL, bomb]))
    assert archive.stat().st_size < 64 * 1024
    no_ratio = LIMIT.model_copy(update={"max_unpack_ratio": 1e9})
    with pytest.raises(ArchiveError, match="unpacked size exceeds"):
        check_archive(archive, "m.zip", no_ratio)
    with pytest.raises(ArchiveError, match="unpacked size exceeds"):
        safe_extract(archive, tmp_path / "out", no_ratio)
    with pytest.raises(ArchiveError, match="more than 100 times its size"):
        check_archive(archive, "m.zip", LIMIT)


@pytest.mark.parametrize(
    ("entries", "message"),
    [(MODEL[1:], "no config.json"), (MODEL[:1], "no .safetensors"), ([], "no config.json")],
)
def test_a_model_needs_config_and_safetensors(
    tmp_path: Path, tar_gz: Callable[..., bytes], entries: list[tuple[str, bytes]], message: str
) -> None:
    """Without config.json or a .safetensors file the archive is not a model."""
    archive = _write(tmp_path, "m.tar.gz", tar_gz(entries))
    with pytest.raises(ArchiveError, match=message):
        check_archive(archive, "m.tar.gz", LIMIT)


def test_garbage_and_wrong_suffixes_are_refused(tmp_path: Path) -> None:
    """Unreadable archives and unsupported suffixes are refused with a reason."""
    archive = _write(tmp_path, "m.tar.gz", b"not an archive at all")
    with pytest.raises(ArchiveError, match="not a readable tar archive"):
        check_archive(archive, "m.tar.gz", LIMIT)
    with pytest.raises(ArchiveError, match="must be a"):
        check_archive(archive, "m.rar", LIMIT)


def test_extract_needs_config_at_the_top_or_in_one_folder(
    tmp_path: Path, tar_gz: Callable[..., bytes]
) -> None:
    """A model spread over two folders has no single model directory."""
    entries = [("a/config.json", MODEL[0][1]), ("a/model.safetensors", MODEL[1][1]), ("b/x.txt", b"")]
    archive = _write(tmp_path, "m.tar.gz", tar_gz(entries))
    with pytest.raises(ArchiveError, match="single top-level folder"):
        safe_extract(archive, tmp_path / "out", LIMIT)
