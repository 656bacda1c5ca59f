"""Zero-shot candidate scores: the current model without one layer, untrained, on the selection split.

One pass of the full model per batch records the hidden states at every layer boundary (the prefix
cache). The candidate without layer i then runs only the layers above i: the encoder's layer list is
swapped, for that forward, for [cached input of layer i] + layers i+1..L-1, so embeddings, attention
masks, relative positions and the task head are the model's own code for every encoder family. The
same pass gives each layer's Block Influence (ShortGPT): 1 - cosine of its input and output hidden
states, averaged over real tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from worker.pruning.batching import Meter
from worker.pruning.surgery import find_layer_list, without_layers
from worker.pruning.train import TaskDataLike, _autocast, _batches, _loader, _pad_to, predict

if TYPE_CHECKING:
    from datasets import Dataset

    from worker.pruning.types import Hyperparameters


@dataclass(frozen=True)
class ZeroShot:
    """One candidate's untrained selection metric and loss, and its layer's Block Influence."""

    layer: int  # original index
    score: float
    loss: float
    block_influence: float


def ranked(scores: list[ZeroShot]) -> list[ZeroShot]:
    """Best first: higher metric, then lower loss, then the lower original index."""
    return sorted(scores, key=lambda z: (-z.score, z.loss, z.layer))


def task_loss(task_type: str, logits: np.ndarray, labels: np.ndarray) -> float:
    """The loss the model trains with: MSE for regression, else cross-entropy (token labels -100 skipped)."""
    x, y = torch.from_numpy(np.asarray(logits, dtype=np.float32)), torch.from_numpy(np.asarray(labels))
    if task_type == "regression":
        return float(functional.mse_loss(x.reshape(-1), y.float().reshape(-1)))
    return float(
        functional.cross_entropy(x.reshape(-1, x.shape[-1]), y.reshape(-1).long(), ignore_index=-100)
    )


class _Cached(nn.Module):
    """Stands in for the layers below a candidate: returns the hidden states cached at its boundary."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: torch.Tensor | None = None
        self.tail: tuple[Any, ...] | None = None  # what else a layer returns after its hidden states

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.hidden if self.tail is None else (self.hidden, *self.tail)


def _hidden_in(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Tensor:
    """A layer's input hidden states, whether passed by position or by name."""
    if args and isinstance(args[0], torch.Tensor):
        return args[0]
    return next(v for k, v in kwargs.items() if k in ("hidden_states", "x", "hidden") and v is not None)


def _boundaries(
    model: nn.Module, layers: nn.ModuleList, inputs: dict[str, torch.Tensor]
) -> tuple[list[Any], tuple[Any, ...] | None]:
    """Run the full model once: every layer's input, the last layer's output, and what else layers return."""
    seen: list[torch.Tensor] = []
    tail: list[tuple[Any, ...] | None] = [None]

    def before(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        seen.append(_hidden_in(args, kwargs))

    def after(_module: nn.Module, _args: Any, output: Any) -> None:
        tail[0] = tuple(output[1:]) if isinstance(output, tuple) else None
        seen.append(output[0] if isinstance(output, tuple) else output)

    handles = [layer.register_forward_pre_hook(before, with_kwargs=True) for layer in layers]
    handles.append(layers[-1].register_forward_hook(after))
    try:
        model(**inputs)
    finally:
        for handle in handles:
            handle.remove()
    return seen, tail[0]


def _real(batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Which positions are real tokens (all of them when the batch has no attention mask)."""
    mask = batch.get("attention_mask")
    return mask if mask is not None else torch.ones_like(batch["input_ids"])


def _influence(before: torch.Tensor, after: torch.Tensor, mask: torch.Tensor) -> tuple[float, int]:
    """Sum over real tokens of 1 - cos(layer input, layer output), and the count of real tokens."""
    cos = functional.cosine_similarity(before.float(), after.float(), dim=-1)
    real = mask.bool()
    return float((1.0 - cos)[real].sum()), int(real.sum())


def _collect(data: TaskDataLike, logits: list[np.ndarray], labels: list[np.ndarray]) -> tuple[float, float]:
    """Metric and loss of batched outputs (token outputs padded to one width)."""
    if data.type == "token-classification":
        width = max(a.shape[1] for a in logits)
        logits = [_pad_to(a, width, 0.0) for a in logits]
        labels = [_pad_to(a, width, -100) for a in labels]
    all_logits, all_labels = np.concatenate(logits), np.concatenate(labels)
    return float(data.score(all_logits, all_labels)), task_loss(data.type, all_logits, all_labels)


@torch.no_grad()
def zero_shot_scores(
    model: nn.Module,
    kept: list[int],
    dataset: Dataset,
    *,
    data: TaskDataLike,
    hp: Hyperparameters,
    device: torch.device,
    meter: Meter | None = None,
) -> list[ZeroShot]:
    """Score every candidate of `model` (whose layers are the original `kept`) with the prefix cache."""
    model.to(device)
    model.eval()
    meter = meter or Meter()
    parent, attr, layers = find_layer_list(model)
    if getattr(parent, "conv", None) is not None:
        # DeBERTa-v2's encoder convolves after its first layer, which a swapped list would misplace.
        return naive_zero_shot(model, kept, dataset, data=data, hp=hp, device=device, meter=meter)
    count = len(layers)
    cached = _Cached()
    logits: list[list[np.ndarray]] = [[] for _ in range(count)]
    labels: list[np.ndarray] = []
    influence = np.zeros(count)
    tokens = 0
    meter.start()
    try:
        for batch in _batches(
            _loader(model, dataset, collator=data.collator, batch_size=hp.eval_batch_size, generator=None),
            device,
        ):
            meter.add(batch)
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            labels.append(batch["labels"].cpu().numpy())
            with _autocast(device):
                seen, cached.tail = _boundaries(model, layers, inputs)
                for i in range(count):
                    spent, real = _influence(seen[i], seen[i + 1], _real(batch))
                    influence[i] += spent
                    cached.hidden = seen[i]
                    setattr(parent, attr, nn.ModuleList([cached, *layers[i + 1 :]]))
                    try:
                        out = model(**inputs).logits
                    finally:
                        setattr(parent, attr, layers)
                    logits[i].append(out.float().cpu().numpy())
            tokens += real
    finally:
        meter.stop()
        cached.hidden = None
    results = []
    for i, layer in enumerate(kept):
        score, loss = _collect(data, logits[i], labels)
        results.append(ZeroShot(layer, score, loss, float(influence[i] / max(tokens, 1))))
    return results


def block_influence(
    model: nn.Module, dataset: Dataset, data: TaskDataLike, *, hp: Hyperparameters, device: torch.device
) -> list[float]:
    """Each current layer's Block Influence on `dataset` (one full pass, no candidates)."""
    _, _, layers = find_layer_list(model)
    totals, tokens = np.zeros(len(layers)), 0
    model.to(device)
    model.eval()
    with torch.no_grad():
        for batch in _batches(
            _loader(model, dataset, collator=data.collator, batch_size=hp.eval_batch_size, generator=None),
            device,
        ):
            inputs = {k: v for k, v in batch.items() if k != "labels"}
            seen, _ = _boundaries(model, layers, inputs)
            for i in range(len(layers)):
                spent, real = _influence(seen[i], seen[i + 1], _real(batch))
                totals[i] += spent
            tokens += real
    return [float(t / max(tokens, 1)) for t in totals]


def naive_zero_shot(
    model: nn.Module,
    kept: list[int],
    dataset: Dataset,
    *,
    data: TaskDataLike,
    hp: Hyperparameters,
    device: torch.device,
    meter: Meter | None = None,
) -> list[ZeroShot]:
    """The reference: a copy of the model without each layer, scored from scratch (no prefix cache)."""
    influence = block_influence(model, dataset, data, hp=hp, device=device)
    results = []
    for i, layer in enumerate(kept):
        logits, labels = predict(without_layers(model, [i]), dataset, data, hp, device=device, meter=meter)  # type: ignore[arg-type]
        score = float(data.score(logits, labels))
        results.append(ZeroShot(layer, score, task_loss(data.type, logits, labels), influence[i]))
    return results
