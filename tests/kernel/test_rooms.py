"""The rooms' import rules, read from the source: app and worker meet only in the command and serve."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The composition root: the only modules that may import both app/ and worker/.
COMPOSITION = {"secateur/cli.py", "secateur/serve.py"}
# The kernel modules the engine may use: pure words and arithmetic, no database, no settings.
ENGINE_MAY_USE = {"secateur.kernel.cost", "secateur.kernel.hyperparameters", "secateur.kernel.vocabulary"}


def imported(source: str) -> set[str]:
    """Every absolute module name a source imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def rooms(names: set[str]) -> set[str]:
    """The top-level packages among `names`."""
    return {name.split(".")[0] for name in names}


def modules(folder: str) -> dict[str, set[str]]:
    """Each module under `folder` (relative path) and what it imports."""
    return {
        path.relative_to(ROOT).as_posix(): imported(path.read_text())
        for path in sorted((ROOT / folder).rglob("*.py"))
    }


def offenders(folder: str, forbidden: set[str]) -> list[str]:
    """`path: room` for each module under `folder` importing a forbidden room."""
    return [
        f"{path}: {room}"
        for path, names in modules(folder).items()
        for room in sorted(rooms(names) & forbidden)
    ]


def test_the_scanner_sees_imports_inside_functions() -> None:
    """A lazy import counts like a top-level one, so the rules below cannot be dodged by deferring it."""
    source = "import os\n\ndef f():\n    from worker.pruning import engine\n    import app.main\n"
    assert rooms(imported(source)) == {"os", "worker", "app"}
    assert "worker.pruning.engine" in imported(source)


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("app", {"worker"}),
        ("worker", {"app"}),
        ("secateur/kernel", {"app", "worker"}),
        ("migrations", {"app", "worker"}),
    ],
)
def test_each_room_keeps_to_itself(folder: str, forbidden: set[str]) -> None:
    """The API never imports the worker, the worker never imports the API, the kernel neither."""
    assert modules(folder), f"no modules under {folder}"
    assert offenders(folder, forbidden) == []


def test_only_the_composition_root_imports_both_rooms() -> None:
    """secateur/cli.py and secateur/serve.py wire app and worker together; nothing else does."""
    both = {
        path
        for folder in ("app", "worker", "secateur")
        for path, names in modules(folder).items()
        if {"app", "worker"} <= rooms(names)
    }
    assert both <= COMPOSITION
    assert "secateur/cli.py" in both  # the command really is where the two rooms meet


def allowed_in_engine(name: str) -> bool:
    """A package on the way to an allowed module, the module, or a name imported from it."""
    return name in {"secateur", "secateur.kernel"} or any(
        name == module or name.startswith(module + ".") for module in ENGINE_MAY_USE
    )


def test_the_engine_uses_only_the_pure_kernel() -> None:
    """worker/pruning stays a library: no database, settings or queue from the kernel."""
    used = {
        f"{path}: {name}"
        for path, names in modules("worker/pruning").items()
        for name in names
        if rooms({name}) == {"secateur"} and not allowed_in_engine(name)
    }
    assert used == set()
