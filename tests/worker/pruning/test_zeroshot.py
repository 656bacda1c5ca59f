"""Zero-shot candidate scores: the prefix-cached pass equals scoring each pruned copy from scratch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn import functional

from tests.support.synthetic import ARCHITECTURES, keyword_task, make_model_dir
from worker.pruning.batching import Meter
from worker.pruning.surgery import load_model
from worker.pruning.types import Hyperparameters
from worker.pruning.zeroshot import naive_zero_shot, ranked, zero_shot_scores

HP = Hyperparameters(eval_batch_size=16)
CPU = torch.device("cpu")


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_prefix_cache_equals_the_naive_pass(tmp_path: Path, arch: str) -> None:
    """Every encoder family: the same metric, loss and Block Influence as without_layers + predict."""
    task = keyword_task(n_train=16, n_eval=40)
    model = load_model(str(make_model_dir(tmp_path, arch, layers=8)), "classification", 2)
    kept = [0, 2, 5, 7]  # original indices: layer numbers are not positions
    meter = Meter()
    fast = zero_shot_scores(model, kept, task.selection, data=task, hp=HP, device=CPU, meter=meter)
    slow = naive_zero_shot(model, kept, task.selection, data=task, hp=HP, device=CPU)
    assert [z.layer for z in fast] == kept
    for a, b in zip(fast, slow, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-9)
        assert a.loss == pytest.approx(b.loss, rel=1e-4)
        assert a.block_influence == pytest.approx(b.block_influence, rel=1e-4)
    assert len({round(z.loss, 6) for z in fast}) > 1  # the candidates really differ
    assert meter.examples == len(task.selection) and 0 < meter.real_tokens <= meter.padded_tokens


@pytest.mark.parametrize("kind", ["regression", "token-classification"])
def test_prefix_cache_equals_the_naive_pass_on_other_task_types(bert_dir: Path, kind: str) -> None:
    """Regression (MSE) and token tasks (labels -100 skipped) score alike both ways."""
    task = keyword_task(kind, n_train=16, n_eval=40)
    model = load_model(str(bert_dir), kind, task.num_labels)  # type: ignore[arg-type]
    fast = zero_shot_scores(model, [0, 1, 2, 3], task.selection, data=task, hp=HP, device=CPU)
    slow = naive_zero_shot(model, [0, 1, 2, 3], task.selection, data=task, hp=HP, device=CPU)
    for a, b in zip(fast, slow, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-6)
        assert a.loss == pytest.approx(b.loss, rel=1e-4)


def test_block_influence_is_one_minus_cosine_over_real_tokens(bert_dir: Path) -> None:
    """Block Influence matches the definition computed from output_hidden_states."""
    task = keyword_task(n_train=16, n_eval=20)
    model = load_model(str(bert_dir), "classification", 2)
    scores = zero_shot_scores(
        model, [0, 1, 2, 3], task.selection, data=task, hp=Hyperparameters(eval_batch_size=64), device=CPU
    )
    batch = task.collator([{k: row[k] for k in ("input_ids", "attention_mask")} for row in task.selection])
    with torch.no_grad():
        states = model(**batch, output_hidden_states=True).hidden_states
    real = batch["attention_mask"].bool()
    for i, z in enumerate(scores):
        cos = functional.cosine_similarity(states[i], states[i + 1], dim=-1)[real]
        assert z.block_influence == pytest.approx(float((1 - cos).mean()), rel=1e-4)


def test_ranking_prefers_metric_then_loss_then_lower_index() -> None:
    """Ties on the metric go to the lower loss, then to the lower original layer."""
    from worker.pruning.zeroshot import ZeroShot

    scores = [
        ZeroShot(3, 0.8, 0.5, 0.1),
        ZeroShot(1, 0.8, 0.4, 0.1),
        ZeroShot(0, 0.7, 0.1, 0.1),
        ZeroShot(2, 0.8, 0.4, 0.1),
    ]
    assert [z.layer for z in ranked(scores)] == [1, 2, 3, 0]
