"""A finished run's `result` JSON: the figures, the artifact and, for an analysis, the sensitivity table."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from worker.pruning.types import PruneResult


def result_json(result: PruneResult, artifact_bytes: int, sha256: str) -> dict[str, Any]:
    """The job's `result` field (with the sensitivity table for an analysis)."""
    values: dict[str, Any] = {
        "layers_removed": len(result.removed_layers),
        "removed_layers": list(result.removed_layers),
        "kept_layers": list(result.kept_layers),
        "score": result.score,
        "report_score": result.report_score,
        "baseline_score": result.baseline_score,
        "baseline_report_score": result.baseline_report_score,
        "retained_fraction": result.retained_fraction,
        "metric": result.metric,
        "strategy": result.strategy,
        "parameters_before": result.parameters_before,
        "parameters_after": result.parameters_after,
        "train_examples": result.train_examples,
        "stopped_by": result.stopped_by,
        "throughput": result.throughput,
        "artifact": {"bytes": artifact_bytes, "sha256": sha256},
        "baseline": result.baseline,
        "chance_score": result.chance_score,
        "warnings": [asdict(w) for w in result.warnings],
        "latency": asdict(result.latency) if result.latency else None,
    }
    if result.strategy == "analyze":
        values["sensitivity"] = sensitivity_table(result)
    return values


def sensitivity_table(result: PruneResult) -> list[dict[str, Any]]:
    """The analysis: per round, the layer removed and every remaining layer's zero-shot figures."""
    return [
        {
            "round": r.round,
            "layers_before": r.layers_before,
            "removed_layer": r.removed_layer,
            "score": r.score,
            "report_score": r.report_score,
            "layers": [
                {
                    "layer": c.layer,
                    "score": c.zero_shot_score,
                    "loss": c.zero_shot_loss,
                    "block_influence": c.block_influence,
                }
                for c in r.candidates
            ],
        }
        for r in result.rounds
    ]
