"""The API image ships without worker/: its `secateur` still has keys, files and jobs."""

import subprocess
import sys

# A fresh interpreter where `worker` cannot be imported, as in the API image.
HIDE_WORKER = """
import sys
from importlib.abc import MetaPathFinder

class NoWorker(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "worker" or name.startswith("worker."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoWorker())
sys.argv = ["secateur", "--help"]
from secateur.cli import main
main()
"""


def _help(code: str) -> str:
    """`secateur --help` as printed by a fresh interpreter running `code`."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_the_worker_the_command_keeps_its_client_commands() -> None:
    """keys, files and jobs stay; serve, prune and analyze, which need the worker, are not offered."""
    listed = _help(HIDE_WORKER)
    assert all(name in listed for name in ("keys", "files", "jobs"))
    assert not any(name in listed for name in ("serve", "prune", "analyze"))


def test_with_the_worker_every_command_is_there() -> None:
    """The same help with the worker importable lists serve, prune and analyze too."""
    listed = _help(HIDE_WORKER.replace("sys.meta_path.insert(0, NoWorker())", ""))
    assert all(name in listed for name in ("keys", "serve", "prune", "analyze"))
