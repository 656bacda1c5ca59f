"""Length-bucketed batches (less padding, still shuffled by the seed) and throughput meters."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import torch
from torch.utils.data import Sampler

# Sort within pools of this many batches: large enough to group lengths, small enough to stay shuffled.
POOL_BATCHES = 50


class BucketSampler(Sampler[list[int]]):
    """Batches of similar length: shuffle, sort each pool of POOL_BATCHES batches by length, shuffle batches.

    Every draw comes from `generator`, so the same seed gives the same batches in the same order.
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, generator: torch.Generator) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.generator = generator

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(len(self.lengths), generator=self.generator).tolist()
        pool = self.batch_size * POOL_BATCHES
        batches: list[list[int]] = []
        for start in range(0, len(order), pool):
            # Stable sort: equal lengths keep their shuffled order.
            chunk = sorted(order[start : start + pool], key=self.lengths.__getitem__)
            batches.extend(chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size))
        for i in torch.randperm(len(batches), generator=self.generator).tolist():
            yield batches[i]


def by_length(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Evaluation batches in length order (metrics do not depend on the order of examples)."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


@dataclass
class Meter:
    """Examples and tokens processed, and the seconds they took: throughput in real tokens and examples."""

    examples: int = 0
    real_tokens: int = 0
    padded_tokens: int = 0
    seconds: float = 0.0
    _began: float | None = field(default=None, repr=False)

    def start(self) -> None:
        """Start timing a stretch of work."""
        self._began = time.monotonic()

    def stop(self) -> None:
        """Add the time since `start`."""
        if self._began is not None:
            self.seconds += time.monotonic() - self._began
            self._began = None

    def add(self, batch: Mapping[str, torch.Tensor]) -> None:
        """Count one batch: its rows, its real (unmasked) tokens and the tokens computed with padding."""
        ids = batch["input_ids"]
        mask = batch.get("attention_mask")
        self.examples += int(ids.shape[0])
        self.real_tokens += int(mask.sum()) if mask is not None else int(ids.numel())
        self.padded_tokens += int(ids.numel())

    def summary(self) -> dict[str, float | int | None]:
        """JSON-ready totals and rates (None before any time was measured)."""
        rate = self.seconds if self.seconds > 0 else None
        return {
            "examples": self.examples,
            "real_tokens": self.real_tokens,
            "padded_tokens": self.padded_tokens,
            "real_token_fraction": self.real_tokens / self.padded_tokens if self.padded_tokens else None,
            "seconds": self.seconds,
            "examples_per_second": self.examples / rate if rate else None,
            "real_tokens_per_second": self.real_tokens / rate if rate else None,
        }
