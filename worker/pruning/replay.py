"""What a candidate needs in another process: the request's data in a Context, and a saved start model."""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

import torch

from worker.pruning.engine import _candidate_sample, _load_task, _load_tokenizer, resolve_device, validate
from worker.pruning.errors import ConfigError
from worker.pruning.resume import Slot
from worker.pruning.strategies import Context
from worker.pruning.surgery import load_saved_model, read_config
from worker.pruning.types import Observer, PruneRequest, TaskType


def candidate_context(request: PruneRequest, observer: Observer) -> Context:
    """A Context that fine-tunes candidates exactly as `prune` does: same data, sample, seeds, device."""
    validate(request)
    device = resolve_device(request.device)
    hp = request.hyperparameters
    torch.manual_seed(hp.seed)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True, warn_only=True)
    read_config(request.model, request.limits)
    tokenizer = _load_tokenizer(request.model)
    data = _load_task(request.task, tokenizer, hp, request.limits.max_row_bytes)
    if data.type not in ("classification", "regression", "token-classification"):
        raise ConfigError(f"unknown task type {data.type!r}")
    return Context(
        request=request,
        data=data,
        device=device,
        observer=observer,
        pristine=None,
        layers_total=0,
        threshold=0.0,
        checkpoint_dir=None,
        started=time.monotonic(),
        seconds_before=0.0,
        candidate_train=_candidate_sample(data, hp),
    )


def load_start(directory: Path, kept: list[int], ctx: Context) -> Slot:
    """A round's start model saved with `save_pretrained`, as the Slot its candidates are cut from."""
    model = load_saved_model(directory, cast(TaskType, ctx.data.type))
    return Slot(model, list(kept), 0.0, 0.0)
