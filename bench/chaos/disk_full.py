"""The disk-full scenario: the artifacts folder on a full filesystem of its own, jobs run to the end."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import httpx

from bench.chaos.client import TERMINAL, client, outcome, submit, wait
from bench.chaos.stacks import ServeStack

SIMULATED = "a full 64 KiB tmpfs over the storage's `artifacts/` folder, in the service's own mount namespace"
EXPECTED = (
    "fails once with storage_full (never internal_error, never retried); GET artifact 404/409, "
    "no file left under artifacts/"
)
# `secateur serve` starts in a mount namespace of its own (nothing outside it sees the mount) where
# the artifacts folder is a 64 KiB tmpfs filled to the brim. Uploads, the database, checkpoints and
# the work folder stay on the real disk, so the first write to fail with ENOSPC is an artifact's: a
# kept depth's during a round, or the final model's.
_MOUNT = (
    'mkdir -p "$0" && mount -t tmpfs -o size=64k,mode=0700 secateur-full "$0" '
    '&& { dd if=/dev/zero of="$0/filler" bs=4096 2>/dev/null || true; } && exec "$@"'
)


class FullDiskStack(ServeStack):
    """`secateur serve` whose artifacts folder is a full filesystem."""

    name = "serve"

    def __init__(self, scratch: Path) -> None:
        self.artifacts = scratch / "data" / "blobs" / "artifacts"
        wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c", _MOUNT, str(self.artifacts)]
        super().__init__(scratch, wrapper=wrapper)

    def leftovers(self) -> list[str]:
        """Files under the full artifacts folder other than the filler, as the service sees them."""
        found = subprocess.run(
            ["nsenter", "--target", str(self.serve.pid), "--mount", "--", "find", str(self.artifacts),
             "-type", "f", "!", "-name", "filler"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout  # fmt: skip
        return [str(Path(p).relative_to(self.artifacts)) for p in found.split()]


def run_disk_full(stack: FullDiskStack, uploads: tuple[str, str, str], trials: int) -> dict[str, Any]:
    """`trials` jobs to the end, alternately keeping every depth (the default) and only the final model."""
    with client(stack.base) as api:
        records = [_trial(stack, api, uploads, keep_depths=i % 2 == 0) for i in range(trials)]
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
    stack: FullDiskStack, api: httpx.Client, uploads: tuple[str, str, str], keep_depths: bool
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
        "leftovers": stack.leftovers(),
    }
