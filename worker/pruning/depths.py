"""Every accepted depth kept: each accepted round's model saved with its scores, size and latency."""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from worker.pruning.latency import device_label, time_model
from worker.pruning.resume import Slot
from worker.pruning.surgery import count_parameters
from worker.pruning.types import Depth, Observer

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

DEPTH_FILE = "depth.json"


def depth_folder(root: Path, layers: int) -> Path:
    """Where the model with `layers` layers is saved."""
    return root / f"layers-{layers:03d}"


class DepthKeeper:
    """Saves each accepted round's model under `root` and hands it to the observer as a `Depth`."""

    def __init__(
        self,
        root: Path,
        *,
        tokenizer: PreTrainedTokenizerBase,
        observer: Observer,
        batch: dict[str, torch.Tensor] | None,
        device: torch.device,
        runs: int,
    ) -> None:
        """`batch` is what latency is timed on (None: not timed)."""
        self.root, self.tokenizer, self.observer = root, tokenizer, observer
        self.batch, self.device, self.runs = batch, device, runs

    def __call__(self, rnd: int, slot: Slot) -> None:
        """Save the accepted model of round `rnd`, time it, and tell the observer."""
        folder = depth_folder(self.root, len(slot.kept))
        shutil.rmtree(folder, ignore_errors=True)  # a resumed run replays the round: same model again
        slot.model.save_pretrained(folder, safe_serialization=True)
        self.tokenizer.save_pretrained(folder)
        latency = None
        if self.batch is not None and self.runs > 0:
            latency = time_model(slot.model, self.batch, device=self.device, runs=self.runs)
        depth = Depth(
            round=rnd,
            layers=len(slot.kept),
            kept_layers=tuple(slot.kept),
            score=slot.score,
            report_score=slot.report_score,
            parameters=count_parameters(slot.model),
            latency_ms=latency,
            directory=folder,
        )
        record: dict[str, Any] = {**asdict(depth), "directory": None}
        record["device"] = device_label(self.device)
        (folder / DEPTH_FILE).write_text(json.dumps(record, indent=2))
        self.observer.on_depth(depth)
