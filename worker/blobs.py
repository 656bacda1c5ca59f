"""The job's files in storage: tarballs, kept depths, the checkpoint another machine resumes from, cleanup."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

from secateur.kernel.storage import Storage


def pack(directory: Path, target: Path, compress: bool) -> tuple[int, str]:
    """Tar `directory`'s contents into `target`; returns its (bytes, sha256)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz" if compress else "w") as tar:
        for child in sorted(directory.iterdir()):
            tar.add(child, arcname=child.name)
    digest = hashlib.sha256()
    with target.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return target.stat().st_size, digest.hexdigest()


def unpack(archive: Path, directory: Path) -> None:
    """Unpack one of our own checkpoint tarballs (written by `pack`, so trusted) into `directory`."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(directory, filter="data")


def checkpoint_key(job_id: str) -> str:
    """Where a job's latest checkpoint tarball lives in storage."""
    return f"checkpoints/{job_id}.tar"


def restore_checkpoint(storage: Storage, job_id: str, work: Path) -> int:
    """Refresh `work/checkpoint` from storage; returns how many rounds the checkpoint has finished.

    The stored tarball wins over a local directory: it is the latest finished round, whichever
    machine ran it, and it is replaced atomically, unlike a directory a killed process was writing.
    """
    from worker.pruning import resume  # imports torch: only in the job's process

    directory = work / "checkpoint"
    if storage.exists(checkpoint_key(job_id)):
        work.mkdir(parents=True, exist_ok=True)
        tarball = work / "checkpoint.tar"
        storage.fetch(checkpoint_key(job_id), tarball)
        unpack(tarball, directory)
        tarball.unlink()
    steps = sorted(directory.glob(f"{resume.STEP_PREFIX}*/{resume.STATE_FILE}"))
    if not steps:
        return 0
    return len(json.loads(steps[-1].read_text())["rounds"])


def upload_checkpoint(storage: Storage, job_id: str, work: Path) -> None:
    """Copy the engine's fresh checkpoint (the whole dir, which holds only the latest step) to storage."""
    tarball = work / "checkpoint.tar"
    pack(work / "checkpoint", tarball, compress=False)
    storage.put_file(checkpoint_key(job_id), tarball)
    tarball.unlink()


def cleanup(storage: Storage, job_id: str, work: Path) -> None:
    """Drop the job's work dir, checkpoint blob and shared round files once it reached a terminal state."""
    shutil.rmtree(work, ignore_errors=True)
    storage.delete(checkpoint_key(job_id))
    storage.delete_prefix(f"fanout/{job_id}")


def depth_key(job_id: str, layers: int) -> str:
    """Where a job's kept depth with `layers` layers lives in storage."""
    return f"artifacts/{job_id}/depths/layers-{layers}.tar.gz"


def upload_depth(storage: Storage, job_id: str, layers: int, directory: Path) -> tuple[str, int, str]:
    """Pack a saved depth, store it, and free the local copy; returns (key, bytes, sha256)."""
    tarball = directory.with_name(f"{directory.name}.tar.gz")
    size, sha256 = pack(directory, tarball, compress=True)
    key = depth_key(job_id, layers)
    storage.put_file(key, tarball)
    tarball.unlink()
    shutil.rmtree(directory, ignore_errors=True)  # the blob is the copy that counts; disk is precious
    return key, size, sha256
