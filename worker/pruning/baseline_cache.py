"""A store of fine-tuned full models, so runs that differ only in how they prune share one baseline.

The baseline fine-tune depends on the model, the task and the fine-tuning budget, never on the
strategy, retention or the candidates' budget. Comparing AGLP, GLP and top-layer dropping on one
model and task therefore needs the full model fine-tuned once, not three times. An entry is keyed
by a digest of exactly the request fields the baseline depends on.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.pruning.surgery import load_saved_model
from worker.pruning.types import PruneRequest, TaskType

if TYPE_CHECKING:
    from transformers import PreTrainedModel

# Hyperparameters the baseline fine-tune reads; the rest only shape the pruning rounds.
BASELINE_FIELDS = (
    "epochs",
    "learning_rate",
    "weight_decay",
    "batch_size",
    "max_length",
    "seed",
    "max_train_examples",
    "eval_batch_size",
    "max_selection_examples",  # the cached score is measured on the selection half
)
ENTRY_FILE = "baseline.json"


@dataclass(frozen=True)
class Baseline:
    """A fine-tuned full model with its scores and what it cost to train."""

    model: PreTrainedModel
    score: float
    report_score: float
    train_examples: int
    seconds: float


def key(request: PruneRequest) -> dict[str, Any]:
    """The request fields the baseline depends on, as JSON-safe values."""
    hp = request.hyperparameters
    task = {
        name: str(value.resolve()) if isinstance(value, Path) else value  # the same files from any cwd
        for name, value in asdict(request.task).items()
    }
    model = Path(request.model)
    raw = {
        "model": str(model.resolve()) if model.exists() else request.model,  # a local dir, or a hub id
        "task": task,
        "hyperparameters": {name: getattr(hp, name) for name in BASELINE_FIELDS},
    }
    return json.loads(json.dumps(raw, default=str))


def entry_dir(cache_dir: Path, request: PruneRequest) -> Path:
    """Where the baseline of this request lives in the cache (whether or not it exists yet)."""
    digest = hashlib.sha256(json.dumps(key(request), sort_keys=True).encode()).hexdigest()
    return cache_dir / digest[:20]


def load(cache_dir: Path, request: PruneRequest, task_type: TaskType) -> Baseline | None:
    """The cached baseline for this request, or None when there is none."""
    entry = entry_dir(cache_dir, request)
    meta_path = entry / ENTRY_FILE
    if not meta_path.exists():
        return None
    meta = json.loads(meta_path.read_text())
    if meta["key"] != key(request):  # a digest collision, or an entry written by hand
        return None
    return Baseline(
        model=load_saved_model(entry / "model", task_type),
        score=meta["score"],
        report_score=meta["report_score"],
        train_examples=meta["train_examples"],
        seconds=meta["seconds"],
    )


def save(cache_dir: Path, request: PruneRequest, baseline: Baseline) -> Path:
    """Store a baseline atomically (a concurrent or interrupted writer never leaves half an entry)."""
    entry = entry_dir(cache_dir, request)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=cache_dir))
    baseline.model.save_pretrained(tmp / "model", safe_serialization=True)
    meta = {
        "key": key(request),
        "score": baseline.score,
        "report_score": baseline.report_score,
        "train_examples": baseline.train_examples,
        "seconds": baseline.seconds,
    }
    (tmp / ENTRY_FILE).write_text(json.dumps(meta, indent=2))
    try:
        os.replace(tmp, entry)
    except OSError:  # another run stored the same baseline first; theirs is as good as ours
        shutil.rmtree(tmp, ignore_errors=True)
    return entry
