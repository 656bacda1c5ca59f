"""Measured speed: median forward time of the full and the pruned model on one batch, on the run's device."""

from __future__ import annotations

import platform
import statistics
import time
from typing import TYPE_CHECKING, Any, cast

import torch

from worker.pruning.types import Latency

if TYPE_CHECKING:
    from transformers import PreTrainedModel

    from worker.pruning.train import TaskDataLike

BATCH_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def device_label(device: torch.device) -> str:
    """The device as a reader needs it: `cpu (x86_64)` or `cuda:0 (NVIDIA H200)`."""
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"{device.type} ({platform.machine() or 'unknown'})"


def timing_batch(data: TaskDataLike, batch_size: int, max_length: int) -> dict[str, torch.Tensor]:
    """`batch_size` training inputs (repeated if too few), padded to `max_length`: the worst case."""
    train = data.train
    columns = [c for c in BATCH_INPUTS if c in train.column_names]
    rows = [{c: train[i % len(train)][c] for c in columns} for i in range(batch_size)]
    tokenizer: Any = cast(Any, data.collator).tokenizer
    batch = tokenizer.pad(rows, padding="max_length", max_length=max_length, return_tensors="pt")
    return {k: v for k, v in batch.items() if k in columns}


def median_seconds(
    models: dict[str, torch.nn.Module], batch: dict[str, torch.Tensor], warmup: int, runs: int
) -> dict[str, float]:
    """Median forward time per model, alternating models each step so background load hits both alike."""
    times: dict[str, list[float]] = {name: [] for name in models}
    cuda = any(t.is_cuda for t in batch.values())
    with torch.inference_mode():
        for step in range(warmup + runs):
            for name, net in models.items():
                if cuda:
                    torch.cuda.synchronize()  # kernels run asynchronously: time them to completion
                start = time.perf_counter()
                net(**batch)
                if cuda:
                    torch.cuda.synchronize()
                if step >= warmup:
                    times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def full_twin(pruned: PreTrainedModel, model: str) -> PreTrainedModel:
    """The unpruned architecture with the pruned model's head; random weights, as latency ignores them."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model)
    for key in ("num_labels", "id2label", "label2id", "problem_type"):
        setattr(config, key, getattr(pruned.config, key))
    return type(pruned)(config)


def _accepted(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The batch inputs the model's forward accepts (DistilBERT has no token_type_ids)."""
    import inspect

    names = set(inspect.signature(model.forward).parameters)
    return {k: v for k, v in batch.items() if k in names}


def time_model(
    model: torch.nn.Module,
    batch: dict[str, torch.Tensor],
    *,
    device: torch.device,
    runs: int,
    warmup: int = 1,
) -> float:
    """Median milliseconds of one forward pass of `model` on `batch`, on `device`."""
    model.to(device).eval()
    inputs = {k: v.to(device) for k, v in _accepted(model, batch).items()}
    return 1000 * median_seconds({"model": model}, inputs, warmup, runs)["model"]


def compare(
    full: torch.nn.Module,
    pruned: torch.nn.Module,
    *,
    batch: dict[str, torch.Tensor],
    device: torch.device,
    runs: int,
    warmup: int = 1,
) -> Latency:
    """The full and the pruned model timed alternately on the same batch and device, and the speed-up."""
    full.to(device).eval()
    pruned.to(device).eval()
    inputs = {k: v.to(device) for k, v in _accepted(pruned, batch).items()}
    seconds = median_seconds({"full": full, "pruned": pruned}, inputs, warmup, runs)
    return Latency(
        device=device_label(device),
        batch_size=int(batch["input_ids"].shape[0]),
        sequence_length=int(batch["input_ids"].shape[1]),
        runs=runs,
        full_ms=1000 * seconds["full"],
        pruned_ms=1000 * seconds["pruned"],
        speedup=seconds["full"] / seconds["pruned"],
    )
