"""Import rules in fresh interpreters: the engine loads nothing of the service, the kernel nothing heavy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE = sorted(f"worker.pruning.{path.stem}" for path in (ROOT / "worker" / "pruning").glob("*.py"))
KERNEL = ["secateur.kernel.vocabulary", "secateur.kernel.hyperparameters", "secateur.kernel.cost"]
# The engine is a library: no service code, database, queue or web framework.
NOT_IN_ENGINE = [
    "app",
    "sqlalchemy",
    "celery",
    "fastapi",
    "starlette",
    "worker.celery_app",
    "worker.job_runner",
]
# Both rooms read the kernel's words: neither torch (the API) nor pydantic (the engine) may come with them.
NOT_IN_KERNEL = ["torch", "transformers", "datasets", "sqlalchemy", "pydantic", "app", "worker", "celery"]

PROBE = """
import importlib, json, sys
forbidden = {forbidden!r}
found = {{}}
for module in {modules!r}:
    importlib.import_module(module)
    loaded = sorted(f for f in forbidden if f in sys.modules)
    if loaded:
        found[module] = loaded
        break
print(json.dumps(found))
"""


def _offenders(modules: list[str], forbidden: list[str]) -> dict[str, list[str]]:
    """The first of `modules` (imported in order, in one fresh interpreter) that loads a forbidden one."""
    code = PROBE.format(forbidden=forbidden, modules=modules)
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_engine_imports_nothing_of_the_service() -> None:
    """Every module of worker/pruning, imported in turn, loads no app, SQLAlchemy, Celery or web code."""
    assert "worker.pruning.engine" in ENGINE and len(ENGINE) > 20
    assert _offenders(ENGINE, NOT_IN_ENGINE) == {}


def test_the_kernel_vocabulary_is_light() -> None:
    """The vocabulary, the hyperparameter table and the cost rule load no torch, database or pydantic."""
    assert _offenders(KERNEL, NOT_IN_KERNEL) == {}


def test_the_probe_sees_a_forbidden_import() -> None:
    """The check itself works: the API's schemas do load pydantic."""
    assert _offenders(["secateur.kernel.jobs.schemas"], ["pydantic"]) == {
        "secateur.kernel.jobs.schemas": ["pydantic"]
    }
