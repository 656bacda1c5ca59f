"""The disk-full scenario: the artifacts folder on a full filesystem of its own, jobs run to the end."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

from bench.chaos.client import TERMINAL, client, outcome, submit, wait
from bench.chaos.stacks import Stack
from bench.stack import Process

SIMULATED = (
    "a full 64 KiB tmpfs over the storage's `artifacts/` folder, in a mount namespace the stack's "
    "own processes share (serve, or the API, beat and the Celery workers)"
)
EXPECTED = (
    "fails once with storage_full (never internal_error, never retried); GET artifact 404/409, "
    "no file left under artifacts/"
)
# A holder process makes a mount namespace of its own (nothing outside it sees the mount), mounts
# the artifacts folder there as a 64 KiB tmpfs filled to the brim, and sleeps; the stack's processes
# join it with nsenter, so the API and every worker see the same full folder, as they would a shared
# volume. Uploads, the database, checkpoints and the work folder stay on the real disk, so the first
# write to fail with ENOSPC is an artifact's: a kept depth's during a round, or the final model's.
_MOUNT = (
    'mkdir -p "$0" && mount -t tmpfs -o size=64k,mode=0700 secateur-full "$0" '
    '&& { dd if=/dev/zero of="$0/filler" bs=4096 2>/dev/null || true; } && exec sleep infinity'
)


class FullArtifacts:
    """A mount namespace whose artifacts folder is full; `wrap` is the prefix that runs a command in it."""

    def __init__(self, data_dir: Path, log: Path) -> None:
        self.artifacts = data_dir / "blobs" / "artifacts"
        command = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _MOUNT, str(self.artifacts)]
        self.holder = Process(command, dict(os.environ), log).start()
        deadline = time.monotonic() + 30
        # unshare and sh exec in turn, so the holder's pid runs `sleep` once the folder is mounted and full.
        while Path(f"/proc/{self.holder.pid}/comm").read_text().strip() != "sleep":
            if not self.holder.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the full artifacts filesystem was not mounted (needs root); see {log}")
            time.sleep(0.05)
        self.wrap = ["nsenter", "--target", str(self.holder.pid), "--mount", f"--wd={Path.cwd()}", "--"]

    def leftovers(self) -> list[str]:
        """Files under the full artifacts folder other than the filler, as the stack sees them."""
        found = subprocess.run(
            [*self.wrap, "find", str(self.artifacts), "-type", "f", "!", "-name", "filler"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
        return [str(Path(p).relative_to(self.artifacts)) for p in found.split()]

    def stop(self) -> None:
        """End the holder; the mount goes with the last process in the namespace."""
        self.holder.signal(signal.SIGKILL)
        self.holder.stop(grace_s=5)


def run_disk_full(
    stack: Stack, full: FullArtifacts, uploads: tuple[str, str, str], trials: int
) -> dict[str, Any]:
    """`trials` jobs to the end, alternately keeping every depth (the default) and only the final model."""
    with client(stack.base) as api:
        records = [_trial(full, api, uploads, keep_depths=i % 2 == 0) for i in range(trials)]
    code = [(r["error"] or {}).get("code") for r in records]
    return {
        "scenario": "disk-full",
        "stack": stack.name,
        "expected": EXPECTED,
        "simulated": SIMULATED,
        "trials": records,
        "disk": {
            "trials": trials,
            "failed_storage_full": sum(c == "storage_full" for c in code),
            "attempted_once": sum(r["attempts"] == 1 for r in records),
            "artifact_not_served": sum(r["artifact_status"] in (404, 409) for r in records),
            "no_leftovers": sum(not r["leftovers"] for r in records),
        },
    }


def _trial(
    full: FullArtifacts, api: httpx.Client, uploads: tuple[str, str, str], keep_depths: bool
) -> dict[str, Any]:
    """One job run to its end on the full disk, and what the API then serves of it."""
    job_id = submit(api, uploads, keep_depths=keep_depths)
    final = wait(api, job_id, TERMINAL, 600)
    artifact = api.get(f"/v1/jobs/{job_id}/artifact")
    return {
        "keep_depths": keep_depths,
        "status": final["status"],
        "error": final.get("error"),
        "attempts": outcome(api, job_id, None)["attempts"],
        "artifact_status": artifact.status_code,
        "artifact_type": artifact.headers.get("content-type", ""),
        "leftovers": full.leftovers(),
    }
