"""Artifact downloads: resumed with Range, verified against the API's sha256, unpacked safely."""

import hashlib
import tarfile
from pathlib import Path
from typing import TYPE_CHECKING

from app.client.errors import ApiError
from app.client.models import Download, JobOut

if TYPE_CHECKING:
    from app.client.client import SecateurClient

CHUNK = 1024 * 1024


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def unpack(archive: Path, target: Path) -> Path:
    """Extract a .tar.gz with tarfile's `data` filter: no absolute paths, `..`, devices or outside links."""
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(archive, "r:*") as tar:
            tar.extractall(target, filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise ApiError.client_side(
            "unsafe-archive", "The archive cannot be unpacked safely", str(exc)
        ) from exc
    return target


def _fetch(client: "SecateurClient", job: JobOut, part: Path, etag: str) -> int:
    """Append the rest of the artifact to `part` (or rewrite it); returns the offset it resumed from."""
    have = part.stat().st_size if part.exists() else 0
    # If-Range: should the artifact ever change, the server sends it whole instead of a wrong tail.
    headers = {"Range": f"bytes={have}-", "If-Range": etag} if have else {}
    with client.stream("GET", job.urls.artifact, headers=headers, follow_redirects=True) as response:
        resumed = have if response.status_code == 206 else 0
        with part.open("ab" if resumed else "wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
    return resumed


def download_artifact(client: "SecateurClient", job: JobOut, dest: Path, unpack_to: Path | None) -> Download:
    """Download the job's archive to `dest` through `<dest>.part`, so an interrupted download resumes."""
    artifact = job.result.artifact if job.result is not None else None
    if artifact is None or not artifact.sha256:
        raise ApiError.client_side(
            "artifact-not-ready", "The job has no artifact yet", f"job {job.id} is {job.status}", status=409
        )
    expected, part = artifact.sha256, dest.with_name(dest.name + ".part")
    resumed, failures = 0, 0
    while not (dest.is_file() and sha256_of(dest) == expected):
        complete = part.exists() and artifact.bytes is not None and part.stat().st_size >= artifact.bytes
        try:
            if not complete:
                resumed = max(resumed, _fetch(client, job, part, f'"{expected}"'))
        except ApiError as exc:
            if exc.status == 416 and part.exists():
                part.unlink()  # our partial copy is longer than the artifact: start again
                continue
            if exc.code != "unreachable" or failures >= client.max_retries:
                raise
            client.sleep(client.backoff(failures))
            failures += 1
            continue
        got = sha256_of(part)
        if got != expected:
            part.unlink()  # never resume from bytes known to be wrong
            raise ApiError.client_side(
                "checksum-mismatch",
                "The download does not match its sha256",
                f"expected {expected}, got {got}; the partial file was removed, so run it again",
            )
        part.replace(dest)
    unpacked = unpack(dest, unpack_to) if unpack_to is not None else None
    return Download(dest, expected, dest.stat().st_size, resumed, unpacked)
