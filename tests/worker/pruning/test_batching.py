"""Length-bucketed batches: every example once per epoch, reproducible by seed, far less padding."""

from __future__ import annotations

import random

import torch

from worker.pruning.batching import BucketSampler, Meter, by_length

_RNG = random.Random(0)
LENGTHS = [_RNG.randint(3, 60) for _ in range(1000)]


def _batches(seed: int) -> list[list[int]]:
    """One epoch of bucketed batches drawn from `seed`."""
    return list(BucketSampler(LENGTHS, 16, torch.Generator().manual_seed(seed)))


def _padded(batches: list[list[int]]) -> int:
    """Tokens computed when each batch pads to its longest example."""
    return sum(len(b) * max(LENGTHS[i] for i in b) for b in batches)


def test_every_example_once_and_the_same_batches_for_the_same_seed() -> None:
    """An epoch covers each index exactly once; the seed fixes the batches and their order."""
    first = _batches(7)
    assert sorted(i for b in first for i in b) == list(range(len(LENGTHS)))
    assert len(first) == len(BucketSampler(LENGTHS, 16, torch.Generator())) == 63
    assert first == _batches(7) and first != _batches(8)


def test_buckets_pad_less_than_random_batches_and_stay_shuffled() -> None:
    """Far fewer padded tokens than random batches, and batch order is not sorted by length."""
    order = torch.randperm(len(LENGTHS), generator=torch.Generator().manual_seed(7)).tolist()
    random_batches = [order[i : i + 16] for i in range(0, len(order), 16)]
    bucketed = _batches(7)
    assert _padded(bucketed) < 0.7 * _padded(random_batches)
    longest = [max(LENGTHS[i] for i in b) for b in bucketed]
    assert longest != sorted(longest)


def test_evaluation_batches_run_in_length_order() -> None:
    """Evaluation batches hold every index once, shortest first."""
    batches = by_length(LENGTHS, 64)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(LENGTHS))) and [LENGTHS[i] for i in flat] == sorted(LENGTHS)


def test_the_meter_counts_real_and_padded_tokens() -> None:
    """Real tokens come from the attention mask; without one every token is real."""
    meter = Meter()
    meter.add({"input_ids": torch.ones(2, 4), "attention_mask": torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])})
    meter.add({"input_ids": torch.ones(1, 3)})
    assert (meter.examples, meter.real_tokens, meter.padded_tokens) == (3, 8, 11)
    assert meter.summary()["real_token_fraction"] == 8 / 11 and meter.summary()["examples_per_second"] is None
