"""Run state and its atomic checkpoints: a crashed run resumes from its last finished round."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.pruning.errors import ConfigError
from worker.pruning.surgery import load_saved_model
from worker.pruning.types import Candidate, PruneRequest, RoundRecord, TaskType

if TYPE_CHECKING:
    from transformers import PreTrainedModel

STATE_FILE = "state.json"
STEP_PREFIX = "step-"
FORMAT_VERSION = 1


@dataclass
class Slot:
    """A model the run holds, with the original indices of its layers and its scores."""

    model: PreTrainedModel
    kept: list[int]
    score: float
    report_score: float


@dataclass
class RunState:
    """Everything needed to continue a run: scores, rounds, held models and strategy state."""

    baseline_score: float
    baseline_report_score: float
    slots: dict[str, Slot]
    rounds: list[RoundRecord] = field(default_factory=list)
    order: list[int] = field(default_factory=list)  # GLP's chosen layers so far
    rejected: bool = False  # a round has fallen below the threshold
    train_examples: int = 0
    seconds: float = 0.0


def fingerprint(request: PruneRequest) -> dict[str, Any]:
    """The request as JSON, minus the device, limits and timing: a restarted worker may run elsewhere."""
    data = asdict(request)
    data.pop("device", None)
    data.pop("limits", None)
    data.pop("latency_runs", None)  # timing only: an operator may change it between attempts
    return json.loads(json.dumps(data, default=str))


def _record_from_json(raw: dict[str, Any]) -> RoundRecord:
    """Rebuild a RoundRecord from its JSON form."""
    candidates = tuple(Candidate(**c) for c in raw["candidates"])
    return RoundRecord(**{**raw, "candidates": candidates})


def save(directory: Path, request: PruneRequest, state: RunState) -> Path:
    """Write the state and its models under `directory` atomically; returns the finished step folder."""
    directory.mkdir(parents=True, exist_ok=True)
    step = directory / f"{STEP_PREFIX}{len(state.rounds):04d}"
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=directory))
    saved: dict[int, str] = {}
    slots: dict[str, Any] = {}
    for name, slot in state.slots.items():
        # Slots often share one model (AGLP's current model is also its result): save it once.
        folder = saved.get(id(slot.model))
        if folder is None:
            folder = f"model-{name}"
            slot.model.save_pretrained(tmp / folder, safe_serialization=True)
            saved[id(slot.model)] = folder
        slots[name] = {
            "folder": folder,
            "kept": slot.kept,
            "score": slot.score,
            "report_score": slot.report_score,
        }
    payload = {
        "format": FORMAT_VERSION,
        "request": fingerprint(request),
        "baseline_score": state.baseline_score,
        "baseline_report_score": state.baseline_report_score,
        "slots": slots,
        "rounds": [asdict(r) for r in state.rounds],
        "order": state.order,
        "rejected": state.rejected,
        "train_examples": state.train_examples,
        "seconds": state.seconds,
    }
    (tmp / STATE_FILE).write_text(json.dumps(payload, indent=2))
    if step.exists():
        shutil.rmtree(step)
    os.replace(tmp, step)
    for old in directory.iterdir():
        if old != step and old.is_dir() and old.name.startswith((STEP_PREFIX, ".tmp-")):
            shutil.rmtree(old, ignore_errors=True)
    return step


def _latest(directory: Path) -> Path | None:
    """The newest complete step folder, if any."""
    if not directory.is_dir():
        return None
    steps = sorted(
        p for p in directory.iterdir() if p.name.startswith(STEP_PREFIX) and (p / STATE_FILE).exists()
    )
    return steps[-1] if steps else None


def load(directory: Path, request: PruneRequest, task_type: TaskType) -> RunState | None:
    """The saved state for this request, or None when the folder holds none; refuses another request's."""
    step = _latest(directory)
    if step is None:
        return None
    payload = json.loads((step / STATE_FILE).read_text())
    if payload.get("format") != FORMAT_VERSION:
        raise ConfigError(f"checkpoint {step} has an unknown format {payload.get('format')!r}")
    if payload["request"] != fingerprint(request):
        raise ConfigError(f"checkpoint_dir {directory} holds a checkpoint of a different request")
    models: dict[str, PreTrainedModel] = {}
    slots: dict[str, Slot] = {}
    for name, raw in payload["slots"].items():
        if raw["folder"] not in models:
            models[raw["folder"]] = load_saved_model(step / raw["folder"], task_type)
        slots[name] = Slot(models[raw["folder"]], list(raw["kept"]), raw["score"], raw["report_score"])
    return RunState(
        baseline_score=payload["baseline_score"],
        baseline_report_score=payload["baseline_report_score"],
        slots=slots,
        rounds=[_record_from_json(r) for r in payload["rounds"]],
        order=list(payload["order"]),
        rejected=payload["rejected"],
        train_examples=payload["train_examples"],
        seconds=payload["seconds"],
    )
