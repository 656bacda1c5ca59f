"""A GPU worker's parent imports the engine before it forks: no CUDA, no torch pool, no pyarrow thread."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from secateur.kernel.settings import get_settings
from secateur.kernel.vocabulary import GPU_QUEUE, MAINTENANCE_QUEUE
from worker import celery_app, preload

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: this test process may have loaded torch or datasets already.
PROBE = """
import os, sys, threading
from worker.preload import MODULES, preload
preload()
import torch
assert all(name in sys.modules for name in MODULES)
assert not torch.cuda.is_initialized(), "CUDA initialised in the parent"
assert "datasets" not in sys.modules and "pyarrow" not in sys.modules, "pyarrow starts jemalloc's thread"
assert threading.active_count() == 1, threading.enumerate()
names = [open(f"/proc/self/task/{t}/comm").read().strip() for t in os.listdir("/proc/self/task")]
assert not any("jemalloc" in n for n in names), names
# Raises once torch's inter-op pool has started: nothing may have started it before the fork.
torch.set_num_interop_threads(1)
pid = os.fork()
if pid == 0:  # the child trains a step and tokenises, as a job's child does
    import datasets  # noqa: F401
    model = torch.nn.Linear(8, 2)
    loss = model(torch.randn(4, 8)).sum()
    loss.backward()
    if torch.cuda.is_available():  # on a GPU host the child must still be able to create its context
        assert torch.ones(2, device="cuda").sum().item() == 2.0
    os._exit(0 if model.weight.grad is not None else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def test_the_preloaded_parent_forks_a_working_child() -> None:
    """After preload the parent has no CUDA context, no torch pool, one thread; its forked child trains."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("OMP_NUM_THREADS", None)  # the production default: torch sizes its pools itself
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]


def _worker(*queues: str) -> Any:
    """A stand-in for the WorkController `worker_init` is sent with: only its consumed queues matter."""
    return SimpleNamespace(
        app=SimpleNamespace(
            amqp=SimpleNamespace(queues=SimpleNamespace(consume_from={q: object() for q in queues}))
        )
    )


@pytest.mark.parametrize(
    ("queues", "enabled", "expected"),
    [
        ((GPU_QUEUE,), "true", 1),
        ((GPU_QUEUE, MAINTENANCE_QUEUE), "true", 1),
        ((MAINTENANCE_QUEUE,), "true", 0),  # the reconciler and webhooks never need torch
        ((GPU_QUEUE,), "false", 0),
    ],
)
def test_only_gpu_workers_preload(
    monkeypatch: pytest.MonkeyPatch, queues: tuple[str, ...], enabled: str, expected: int
) -> None:
    """`worker_init` preloads in a worker of the GPU queue, unless SECATEUR_WORKER_PRELOAD is off."""
    calls: list[int] = []
    monkeypatch.setattr(preload, "preload", lambda: calls.append(1) or 0.0)
    monkeypatch.setenv("SECATEUR_WORKER_PRELOAD", enabled)
    get_settings.cache_clear()
    try:
        celery_app._preload_engine(sender=_worker(*queues))
    finally:
        get_settings.cache_clear()
    assert len(calls) == expected
