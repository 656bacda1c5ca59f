"""zs-greedy on a tiny BERT: the engine's zero-shot order, one recovery fine-tune per depth, one record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from bench.reproduce import app
from tests.bench.test_reproduce import sst2_like
from tests.support.synthetic import make_model_dir


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    """One thread: the team shares two cores."""
    torch.set_num_threads(1)


def test_zs_greedy_recovers_each_depth_of_the_zero_shot_order(tmp_path: Path) -> None:
    """Each depth removes the analysis's next layer and costs one fine-tune; acceptance follows retention."""
    results, work = tmp_path / "results", tmp_path / "work"
    args = ["--model", str(make_model_dir(tmp_path, "bert", layers=3)), "--tasks", "sst2", "--seeds", "0"]
    args += ["--extra-seeds", "", "--train-examples", "32", "--max-length", "32", "--batch-size", "8"]
    args += ["--data-dir", str(sst2_like(tmp_path / "data")), "--results-dir", str(results)]
    args += ["--work-dir", str(work), "--docs-dir", str(tmp_path / "docs"), "--device", "cpu"]
    args += ["--latency-runs", "1", "--latency-warmup", "0", "--latency-batch", "4", "--retention", "0.5"]
    outcome = CliRunner().invoke(app, [*args, "--strategies", "zs-greedy,aglp"])
    assert outcome.exit_code == 0, outcome.output + repr(outcome.exception)

    zs = json.loads(next(results.glob("*__zs-greedy__*.json")).read_text())
    aglp = json.loads(next(results.glob("*__aglp__*.json")).read_text())
    s, rounds = zs["summary"], zs["result"]["rounds"]
    assert zs["strategy"] == "zs-greedy" and s["baseline_score"] == aglp["summary"]["baseline_score"]
    assert len(rounds) == 2 and [r["layers_before"] for r in rounds] == [3, 2]  # mapped to one layer
    for r in rounds:
        assert r["train_examples"] == 32  # one recovery fine-tune per depth
        best = max(r["candidates"], key=lambda c: (c["zero_shot_score"], -c["zero_shot_loss"], -c["layer"]))
        assert r["removed_layer"] == best["layer"] and all(c["score"] is None for c in r["candidates"])
    threshold = 0.5 * s["baseline_score"]
    accepted = 0
    for r in rounds:
        if r["score"] < threshold:
            break
        accepted += 1
    assert [r["accepted"] for r in rounds] == [i < accepted for i in range(2)]
    assert s["layers_removed"] == accepted and s["train_examples"] == 32 + 2 * 32
    rule = zs["zero_shot_rule"]
    assert 0 <= rule["layers"] <= 2 and rule["train_examples"] == 32 + (32 if rule["layers"] else 0)
    if rule["layers"]:
        assert rule["retained"] == (rounds[rule["layers"] - 1]["score"] >= threshold)
    # AGLP rounds now carry the zero-shot ranking beside the fine-tuned scores.
    assert all(c["zero_shot_score"] is not None for r in aglp["result"]["rounds"] for c in r["candidates"])
    assert not list(results.glob("*.partial.json"))
