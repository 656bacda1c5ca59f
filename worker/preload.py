"""The engine imported once in a GPU worker's parent process, so each forked job or helper child starts warm.

With one task per child (`worker_max_tasks_per_child=1`), each job and each fan-out helper runs in a
fresh child; without this, each paid torch's, transformers' and the engine's imports again (seconds
on a GPU host, tens of seconds on a loaded CPU) before its first step. A forked child shares these
modules' pages with the parent.

Fork safety: importing touches no device and starts no pool. CUDA stays uninitialised (a CUDA
context does not survive fork) and the NVML-based availability check is asked for, in case an import
asks whether CUDA is available; torch's intra-op and inter-op pools start on first parallel work,
which the parent never does. `datasets` (pyarrow) is left to the child: importing it starts
jemalloc's background thread. OpenBLAS, loaded with numpy, may start idle worker threads; it stops
them before a fork and restarts them after, by its own atfork handlers.
"""

from __future__ import annotations

import importlib
import os
import time

# Model-agnostic: what building, loading, training and scoring any encoder imports on first use.
MODULES = (
    "torch",
    "transformers",
    "transformers.modeling_utils",
    "transformers.tokenization_utils_base",
    "transformers.models.auto.modeling_auto",
    "transformers.models.auto.tokenization_auto",
    "worker.pruning.engine",
    "worker.pruning.replay",
    "worker.pruning.candidates",
    "worker.job_runner",
    "worker.fanout",
)


def preload() -> float:
    """Import the engine here, before the pool forks; returns the seconds it took."""
    # Were an import to ask whether CUDA is available, NVML answers without creating a CUDA context.
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    began = time.monotonic()
    for name in MODULES:
        importlib.import_module(name)
    return time.monotonic() - began
