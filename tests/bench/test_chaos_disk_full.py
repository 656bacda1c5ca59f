"""The disk-full scenario's filesystem: full inside the namespace the stack joins, untouched outside it."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.chaos.disk_full import FullArtifacts

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not (shutil.which("unshare") and shutil.which("nsenter")),
    reason="mounting a tmpfs in a mount namespace of its own needs root and util-linux",
)
WRITE = """
import errno, pathlib, sys
folder = pathlib.Path(sys.argv[1]) / "job"
folder.mkdir()
try:
    (folder / "model.tar.gz").write_bytes(b"x" * 100_000)
except OSError as exc:
    sys.exit(7 if exc.errno == errno.ENOSPC else 1)
"""


def test_a_process_run_through_wrap_meets_enospc_and_its_leftover_is_seen(tmp_path: Path) -> None:
    """A write under artifacts/ fails with ENOSPC; the half-written file is reported, not the filler."""
    full = FullArtifacts(tmp_path / "data", tmp_path / "full.log")
    try:
        done = subprocess.run([*full.wrap, sys.executable, "-c", WRITE, str(full.artifacts)], timeout=60)
        assert done.returncode == 7, "the write did not fail with ENOSPC"
        assert full.leftovers() == ["job/model.tar.gz"]
        # Outside the namespace the folder is the real, empty one: nothing else on the machine is affected.
        assert list(full.artifacts.iterdir()) == []
    finally:
        full.stop()
    assert not full.holder.alive()
