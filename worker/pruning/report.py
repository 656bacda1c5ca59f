"""The `pruning_report.json` written next to a pruned model."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from worker.pruning.types import PruneRequest, PruneResult

REPORT_FILE = "pruning_report.json"


def library_versions() -> dict[str, str]:
    """Versions of the libraries that decide the numbers."""
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for name in ("transformers", "datasets", "tokenizers", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def build_report(
    result: PruneResult, request: PruneRequest, device: torch.device, threshold: float
) -> dict[str, Any]:
    """Everything a reader needs to trust and reproduce the result, as JSON-ready data."""
    hp = asdict(request.hyperparameters)
    return {
        "strategy": result.strategy,
        "model": request.model,
        "task": json.loads(json.dumps(asdict(request.task), default=str)),
        "metric": result.metric,
        "retention": request.retention,
        "threshold": threshold,
        "retention_rule": "accepted while score >= baseline - (1 - retention) * |baseline|",
        "run_to_end": request.run_to_end,
        "min_layers": request.min_layers,
        "baseline": result.baseline,
        "protected_layers": list(request.protected_layers),
        "target_layers": request.target_layers,
        "warnings": [asdict(w) for w in result.warnings],
        "latency": asdict(result.latency) if result.latency else None,
        "baseline_score": result.baseline_score,
        "baseline_report_score": result.baseline_report_score,
        "chance_score": result.chance_score,
        "score": result.score,
        "report_score": result.report_score,
        "retained_fraction": result.retained_fraction,
        "layers_total": result.layers_total,
        "kept_layers": list(result.kept_layers),
        "removed_layers": list(result.removed_layers),
        "parameters_before": result.parameters_before,
        "parameters_after": result.parameters_after,
        "rounds": [asdict(r) for r in result.rounds],
        "hyperparameters": hp,
        "seed": request.hyperparameters.seed,
        "device": str(device),
        "train_examples": result.train_examples,
        "seconds": result.seconds,
        "versions": library_versions(),
    }


def write_report(directory: Path, report: dict[str, Any]) -> Path:
    """Write the report into `directory` and return its path."""
    path = directory / REPORT_FILE
    path.write_text(json.dumps(report, indent=2))
    return path
