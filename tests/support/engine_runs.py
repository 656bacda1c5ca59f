"""What the engine tests share: the test budget, a CPU request, and an observer that records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from worker.pruning.types import Hyperparameters, NullObserver, PruneRequest, RoundRecord

HP = Hyperparameters(
    epochs=3, candidate_epochs=1, repurpose_epochs=1, learning_rate=5e-3, batch_size=16, max_length=32, seed=0
)


def prune_request(model_dir: Path, spec: Any, **kw: Any) -> PruneRequest:
    """A CPU request with the test budget."""
    kw.setdefault("hyperparameters", HP)
    kw.setdefault("strategy", "aglp")  # the tests were written for AGLP; the default is aglp-shortlist
    return PruneRequest(model=str(model_dir), task=spec, device="cpu", **kw)


class Recorder(NullObserver):
    """Records the engine's calls; optionally asks it to stop once `stop_after` rounds are done."""

    def __init__(self, stop_after: int | None = None) -> None:
        """Start empty."""
        self.calls: list[tuple[str, Any]] = []
        self.stop_after = stop_after

    def on_baseline(self, score: float, report_score: float, layers_total: int) -> None:
        """Record."""
        self.calls.append(("baseline", score))

    def on_round(self, record: RoundRecord) -> None:
        """Record."""
        self.calls.append(("round", record.round))

    def on_checkpoint(self, directory: Path) -> None:
        """Record."""
        self.calls.append(("checkpoint", directory.name))

    def should_stop(self) -> bool:
        """Stop once enough rounds are recorded."""
        rounds = sum(1 for name, _ in self.calls if name == "round")
        return self.stop_after is not None and rounds >= self.stop_after
