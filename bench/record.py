"""Turn one engine run into the JSON record the report reads: result, curve, costs, latency, machine."""

from __future__ import annotations

import json
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from worker.pruning.guard import CHANCE_MARGIN, learned, learning_bar
from worker.pruning.types import Depth, PruneResult, RoundRecord, RunWarning

__all__ = ["CHANCE_MARGIN", "BenchObserver", "learned", "learning_bar"]

SCHEMA = 1


class BenchObserver:
    """Records per-fine-tune timings and every round, and mirrors progress to a partial JSON file."""

    def __init__(self, partial_path: Path, header: dict[str, Any]) -> None:
        """Start the clock; `header` (the run's identity) heads every partial snapshot."""
        self.partial_path = partial_path
        self.header = header
        self.started = time.monotonic()
        self.baseline_seconds: float | None = None
        self.baseline: dict[str, float] = {}
        self.candidates: list[dict[str, Any]] = []
        self.rounds: list[dict[str, Any]] = []

    def on_baseline(self, score: float, report_score: float, layers_total: int) -> None:
        """Note the full model's scores and how long loading plus its fine-tune took."""
        self.baseline_seconds = time.monotonic() - self.started
        self.baseline = {"score": score, "report_score": report_score, "layers_total": layers_total}
        self._snapshot()

    def on_candidate(self, rnd: int, layer: int, score: float, seconds: float) -> None:
        """Keep each candidate's fine-tune-and-score time: the unit cost the lead plans with."""
        self.candidates.append({"round": rnd, "layer": layer, "score": score, "seconds": seconds})
        self._snapshot()

    def on_round(self, record: RoundRecord) -> None:
        """Keep the round and write a snapshot, so a watcher sees progress before the run ends."""
        self.rounds.append(asdict(record))
        self._snapshot()

    def on_checkpoint(self, directory: Path) -> None:
        """Nothing to do: the engine owns its checkpoints."""

    def on_warning(self, warning: RunWarning) -> None:
        """Nothing to do: the report derives its own notes from the records."""

    def on_depth(self, depth: Depth) -> None:
        """Nothing to do: the harness keeps only the final model."""

    def heartbeat(self) -> None:
        """Nothing to do: the harness has no supervisor to tell."""

    def should_stop(self) -> bool:
        """Never stop early; an interrupted run resumes from the engine's checkpoint."""
        return False

    def _snapshot(self) -> None:
        """Write the progress so far next to the final results (gitignored as *.partial.json)."""
        payload = {
            **self.header,
            "partial": True,
            "baseline": self.baseline,
            "baseline_seconds": self.baseline_seconds,
            "candidates": self.candidates,
            "rounds": self.rounds,
        }
        write_json(self.partial_path, payload)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically, so an interrupted write never leaves a truncated file the harness would skip on."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def curve(result: PruneResult) -> list[dict[str, Any]]:
    """Selection and report score against layers removed, from the baseline to the last round."""
    points: list[dict[str, Any]] = [
        {
            "layers_removed": 0,
            "score": result.baseline_score,
            "report_score": result.baseline_report_score,
            "retained_fraction": 1.0,
            "accepted": True,
        }
    ]
    for rnd in result.rounds:
        if rnd.removed_layer is None:
            continue
        points.append(
            {
                "layers_removed": result.layers_total - rnd.layers_before + 1,
                "removed_layer": rnd.removed_layer,
                "score": rnd.score,
                "report_score": rnd.report_score,
                "retained_fraction": rnd.retained_fraction,
                "accepted": rnd.accepted,
            }
        )
    return points


def fine_tunes(result: PruneResult) -> float | None:
    """Fine-tunes run, in units of the baseline's: total training examples over the baseline's share."""
    per_fine_tune = result.train_examples - sum(r.train_examples for r in result.rounds)
    return result.train_examples / per_fine_tune if per_fine_tune > 0 else None


@dataclass(frozen=True)
class Harness:
    """How the harness ran one run: its own wall time, and what it took over from an earlier attempt."""

    seconds: float
    resumed: bool
    baseline_reused: bool = False


def build(
    header: dict[str, Any],
    result: PruneResult,
    observer: BenchObserver,
    *,
    latency: dict[str, Any] | None,
    machine: dict[str, Any],
    date: str,
    harness: Harness,
) -> dict[str, Any]:
    """The run's full record, with a flat `summary` of the figures the report tabulates."""
    candidate_seconds = [c["seconds"] for c in observer.candidates]
    summary = {
        "metric": result.metric,
        "baseline_score": result.baseline_score,
        "baseline_report_score": result.baseline_report_score,
        "chance_score": result.chance_score,
        "learned": learned(result.baseline_score, result.baseline_report_score, result.chance_score),
        "layers_total": result.layers_total,
        "layers_removed": len(result.removed_layers),
        "score": result.score,
        "report_score": result.report_score,
        "retained_fraction": result.retained_fraction,
        "fine_tunes": fine_tunes(result),
        "train_examples": result.train_examples,
        "seconds": result.seconds,
        "parameters_before": result.parameters_before,
        "parameters_after": result.parameters_after,
        "speedup": latency["speedup"] if latency else None,
    }
    return {
        "schema": SCHEMA,
        **header,
        "date": date,
        "machine": machine,
        "chance_margin": CHANCE_MARGIN,
        "summary": summary,
        "curve": curve(result),
        "timing": {
            "harness_seconds": harness.seconds,
            "resumed_from_checkpoint": harness.resumed,
            # A reused baseline's seconds are still in summary.seconds, so strategies compare fairly.
            "baseline_reused": harness.baseline_reused,
            "baseline_seconds": observer.baseline_seconds,
            "candidate_seconds_median": statistics.median(candidate_seconds) if candidate_seconds else None,
            "candidates": observer.candidates,
        },
        "latency": latency,
        "result": asdict(result),
    }
