"""CPU inference latency and throughput of a pruned model against the full architecture, same inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer

from worker.pruning.data.load import load_task
from worker.pruning.latency import full_twin, median_seconds
from worker.pruning.surgery import count_parameters, layer_count, load_saved_model
from worker.pruning.types import PruneRequest, TaskType


def selection_batch(request: PruneRequest, size: int) -> tuple[TaskType, dict[str, torch.Tensor]]:
    """The task type and the first `size` selection-half inputs, tokenized and padded as the engine does."""
    data = load_task(request.task, AutoTokenizer.from_pretrained(request.model), request.hyperparameters)
    if len(data.selection) < size:
        raise ValueError(
            f"the selection half has {len(data.selection)} examples, fewer than the batch of {size}"
        )
    rows = [{k: v for k, v in row.items() if k != "labels"} for row in data.selection.select(range(size))]
    return data.type, dict(data.collator(rows))


def compare(
    pruned_dir: Path,
    *,
    model: str,
    task_type: TaskType,
    batch: dict[str, torch.Tensor],
    threads: int = 1,
    warmup: int = 3,
    runs: int = 10,
) -> dict[str, Any]:
    """Median CPU forward time and throughput of the full and the pruned model on the same batch."""
    pruned = load_saved_model(pruned_dir, task_type).eval()
    full = full_twin(pruned, model).eval()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)  # fixed, so timings compare across runs on a shared machine
    try:
        seconds = median_seconds({"full": full, "pruned": pruned}, batch, warmup, runs)
    finally:
        torch.set_num_threads(previous)
    size = int(batch["input_ids"].shape[0])
    return {
        "device": "cpu",
        "threads": threads,
        "batch_size": size,
        "sequence_length": int(batch["input_ids"].shape[1]),
        "warmup": warmup,
        "runs": runs,
        "full_layers": layer_count(full.config),
        "pruned_layers": layer_count(pruned.config),
        "full_parameters": count_parameters(full),
        "pruned_parameters": count_parameters(pruned),
        "full_ms": 1000 * seconds["full"],
        "pruned_ms": 1000 * seconds["pruned"],
        "full_examples_per_s": size / seconds["full"],
        "pruned_examples_per_s": size / seconds["pruned"],
        "speedup": seconds["full"] / seconds["pruned"],
    }
