"""A small explicit fine-tuning loop (AdamW, linear decay, length-bucketed dynamic padding) and evaluation."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from worker.pruning.batching import BucketSampler, Meter, by_length
from worker.pruning.types import Cancelled, Hyperparameters, NullObserver, Observer

if TYPE_CHECKING:
    from datasets import Dataset

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels")
_LENGTHS: dict[str, list[int]] = {}  # token counts per dataset fingerprint (reading them costs a pass)


class TaskDataLike(Protocol):
    """What the engine needs from the data layer's TaskData (read-only)."""

    @property
    def type(self) -> str:
        """classification, regression or token-classification."""

    @property
    def metric(self) -> str:
        """The metric's name."""

    @property
    def num_labels(self) -> int:
        """Output width of the head (1 for regression)."""

    @property
    def label_names(self) -> list[str] | None:
        """Label id -> name, None for regression."""

    @property
    def train(self) -> Dataset:
        """Tokenized training split."""

    @property
    def selection(self) -> Dataset:
        """Tokenized split every decision is made on."""

    @property
    def report(self) -> Dataset:
        """Tokenized held-out split, recorded only."""

    @property
    def collator(self) -> Callable[[list[dict[str, Any]]], Any]:
        """Dynamic padding collator."""

    @property
    def chance_score(self) -> float:
        """The metric's chance level."""

    def score(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """The metric of logits against labels."""


def derive_seed(*parts: int) -> int:
    """A 32-bit seed from a tuple like (seed, stage, round, layer), stable across runs and processes."""
    return int(np.random.SeedSequence([p + 1 for p in parts]).generate_state(1)[0])


def _input_columns(model: nn.Module, dataset: Dataset) -> list[str]:
    """The dataset columns the model's forward accepts (DistilBERT has no token_type_ids)."""
    accepted = set(inspect.signature(model.forward).parameters)
    return [c for c in MODEL_INPUTS if c in dataset.column_names and c in accepted]


def lengths(dataset: Dataset) -> list[int]:
    """Tokens per example, cached by the dataset's fingerprint."""
    key = dataset._fingerprint
    if key not in _LENGTHS:
        if len(_LENGTHS) > 16:
            _LENGTHS.clear()
        _LENGTHS[key] = [len(ids) for ids in dataset["input_ids"]]
    return _LENGTHS[key]


def _loader(
    model: nn.Module,
    dataset: Dataset,
    *,
    collator: Any,
    batch_size: int,
    generator: torch.Generator | None,
    bucket: bool = True,
) -> DataLoader[Any]:
    """Batches of the model's input columns: shuffled when a generator is given, grouped by length.

    Training batches are bucketed by length and shuffled from `generator`; evaluation batches run in
    length order. `bucket=False` gives plain random (or sequential) batches.
    """
    columns = _input_columns(model, dataset)
    rows = dataset.select_columns(columns)
    if not bucket:
        return DataLoader(
            rows,
            batch_size=batch_size,
            shuffle=generator is not None,
            generator=generator,
            collate_fn=collator,
        )
    sizes = lengths(dataset)
    if generator is not None:
        return DataLoader(
            rows, batch_sampler=BucketSampler(sizes, batch_size, generator), collate_fn=collator
        )
    return DataLoader(rows, batch_sampler=by_length(sizes, batch_size), collate_fn=collator)


def _autocast(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on CUDA where the card supports it; a no-op elsewhere."""
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def build_optimizer(model: nn.Module, hp: Hyperparameters) -> torch.optim.AdamW:
    """AdamW (0.9, 0.999, eps 1e-8) with weight decay on everything but biases and LayerNorm weights."""
    no_decay: set[int] = set()
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            no_decay.update(id(p) for p in module.parameters(recurse=False))
    for name, param in model.named_parameters():
        if name.endswith("bias"):
            no_decay.add(id(param))
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if id(p) not in no_decay], "weight_decay": hp.weight_decay},
        {"params": [p for p in params if id(p) in no_decay], "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=hp.learning_rate, betas=(0.9, 0.999), eps=1e-8)


def _batches(loader: DataLoader[Any], device: torch.device) -> Iterator[dict[str, torch.Tensor]]:
    """Move each collated batch to the device."""
    for batch in loader:
        yield {k: v.to(device) for k, v in batch.items()}


def stop_if_asked(observer: Observer, stage: str) -> None:
    """Tell the observer we are alive and raise Cancelled if it wants the engine to stop."""
    observer.heartbeat()
    if observer.should_stop():
        raise Cancelled(f"stopped by the observer {stage}")


@dataclass(frozen=True)
class TrainRun:
    """How one fine-tune runs, beyond the hyperparameters: epochs, seed, device and batching."""

    epochs: int
    seed: int
    device: torch.device
    # Length-bucketed batches; off only to measure what bucketing saves.
    bucket: bool = True


def fine_tune(
    model: nn.Module,
    data: TaskDataLike,
    hp: Hyperparameters,
    run: TrainRun,
    *,
    observer: Observer | None = None,
    train: Dataset | None = None,
    meter: Meter | None = None,
) -> int:
    """Fine-tune `model` in place on `train` (default `data.train`); returns training examples processed.

    Optimizer and linear schedule (no warm-up) are built fresh here for every fine-tune, and the
    data order and dropout come from `seed`, so a fine-tune is reproducible on its own. `meter`
    counts the examples and real tokens trained on, and the seconds spent.
    """
    from transformers import get_linear_schedule_with_warmup

    observer = observer or NullObserver()
    epochs, seed, device = run.epochs, run.seed, run.device
    if epochs <= 0:
        return 0
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    dataset = data.train if train is None else train
    loader = _loader(
        model,
        dataset,
        collator=data.collator,
        batch_size=hp.batch_size,
        generator=generator,
        bucket=run.bucket,
    )
    meter = meter or Meter()
    model.to(device)  # before the optimizer, so it holds the parameters where they will live
    optimizer = build_optimizer(model, hp)
    total_steps = max(1, epochs * len(loader))
    scheduler = get_linear_schedule_with_warmup(optimizer, 0, total_steps)
    model.train()
    examples = 0
    meter.start()
    for _ in range(epochs):
        for batch in _batches(loader, device):
            meter.add(batch)
            with _autocast(device):
                loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            examples += int(batch["input_ids"].shape[0])
            # Every step: observers throttle their own I/O, and a slow step must not delay a cancel.
            try:
                stop_if_asked(observer, "during fine-tuning")
            except Cancelled:
                meter.stop()
                raise
    meter.stop()
    model.eval()
    return examples


def _pad_to(array: np.ndarray, length: int, value: float) -> np.ndarray:
    """Pad axis 1 of a token-level array to `length`."""
    if array.shape[1] == length:
        return array
    widths = [(0, 0), (0, length - array.shape[1])] + [(0, 0)] * (array.ndim - 2)
    return np.pad(array, widths, constant_values=value)


@torch.no_grad()
def predict(
    model: nn.Module,
    dataset: Dataset,
    data: TaskDataLike,
    hp: Hyperparameters,
    *,
    device: torch.device,
    observer: Observer | None = None,
    meter: Meter | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Logits and labels for a split, in length order; token outputs padded to one length (labels -100)."""
    observer = observer or NullObserver()
    model.to(device)
    model.eval()
    meter = meter or Meter()
    logits: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    meter.start()
    for batch in _batches(
        _loader(model, dataset, collator=data.collator, batch_size=hp.eval_batch_size, generator=None), device
    ):
        meter.add(batch)
        with _autocast(device):
            out = model(**batch).logits
        logits.append(out.float().cpu().numpy())
        labels.append(batch["labels"].cpu().numpy())
        stop_if_asked(observer, "during evaluation")
    meter.stop()
    if data.type == "token-classification":
        width = max(a.shape[1] for a in logits)
        logits = [_pad_to(a, width, 0.0) for a in logits]
        labels = [_pad_to(a, width, -100) for a in labels]
    return np.concatenate(logits), np.concatenate(labels)


def evaluate(
    model: nn.Module,
    dataset: Dataset,
    data: TaskDataLike,
    hp: Hyperparameters,
    *,
    device: torch.device,
    observer: Observer | None = None,
    meter: Meter | None = None,
) -> float:
    """The task metric of `model` on one split; checks `observer` for a cancel after every batch."""
    logits, labels = predict(model, dataset, data, hp, device=device, observer=observer, meter=meter)
    return float(data.score(logits, labels))
