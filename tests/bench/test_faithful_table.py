"""The faithful-configuration section: costs to the stop, paired shares, winner-in-top-m and τ per round."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.faithful_table import cost_to_stop, full_budget_examples, in_top, zero_shot_rank
from bench.report import render
from tests.bench.test_report import fake_record


def _round(accepted: bool, examples: int, removed: int, zero_shot: list[float], tau: float | None) -> Any:
    """A round whose candidate i has zero-shot score zero_shot[i]; `removed` won it."""
    candidates = [
        {"layer": i, "score": None, "zero_shot_score": z, "zero_shot_loss": 1.0 - z}
        for i, z in enumerate(zero_shot)
    ]
    return {
        "accepted": accepted,
        "train_examples": examples,
        "seconds": 60.0,
        "removed_layer": removed,
        "candidates": candidates,
        "kendall_tau": tau,
        "score": 0.8 if accepted else 0.5,
    }


def _faithful(strategy: str, seed: int, removed: int, rounds: list[Any]) -> dict[str, Any]:
    run = fake_record(
        task="sst2",
        strategy="aglp-shortlist" if strategy.startswith("aglp-") else strategy,
        seed=seed,
        removed=removed,
        baseline=0.8,
        chance=0.5,
    )
    run.update(label=strategy)
    run["budget"].update(repurpose_epochs=0, tag="n300-r0")
    run["result"]["rounds"] = rounds
    run["summary"]["train_examples"] = 900 + sum(r["train_examples"] for r in rounds)
    run["summary"]["seconds"] = 100.0 + 60.0 * len(rounds)
    return run


def test_costs_count_to_the_first_rejected_round_and_pair_by_seed(tmp_path: Path) -> None:
    """Rounds after the first rejection are left out; shares and τ come from the rounds to the stop."""
    zs = [0.9, 0.8, 0.7]
    aglp = _faithful(
        "aglp",
        0,
        1,
        [_round(True, 1800, 0, zs, 0.5), _round(False, 1500, 2, zs, -0.5), _round(False, 1200, 1, zs, 1.0)],
    )
    short = _faithful(
        "aglp-shortlist1", 0, 1, [_round(True, 300, 0, zs, None), _round(False, 300, 1, zs, None)]
    )
    assert cost_to_stop(aglp) == (900 + 1800 + 1500, 100.0 + 120.0)  # the third round is not counted
    assert [zero_shot_rank(r) for r in aglp["result"]["rounds"]] == [1, 3, 2]
    assert in_top([aglp], 1) == 0.5 and in_top([aglp], 3) == 1.0
    results = tmp_path / "results"
    results.mkdir()
    for i, rec in enumerate((aglp, short)):
        (results / f"r{i}.json").write_text(json.dumps(rec))
    markdown = render(results, tmp_path / "docs").read_text()
    assert "## Shortlist vs faithful AGLP (AGLP keeps its winner)" in markdown
    assert "| aglp | 0 | 1.0 of 6 | +0.0 | 4200 | 100% | 3.7 | 100% | 0.00 |" in markdown
    assert "| aglp-shortlist1 | 0 | 1.0 of 6 | +0.0 | 1500 | 36% | 3.7 | 100% | n/a |" in markdown
    assert "- m (6 layers), aglp-shortlist1: +0.00 layers against AGLP with 36% of its" in markdown
    assert "top 1 / 2 / 3 in 50% / 50% / 100%" in markdown and "r1 +0.50, r2 -0.50." in markdown


def test_full_budget_share_counts_verified_candidates_at_the_whole_budget() -> None:
    """With a candidate sample, each verified candidate is re-priced at train_examples x epochs."""
    zs = [0.9, 0.8, 0.7]
    verified = [{**c, "score": 0.8} for c in _round(True, 0, 0, zs, None)["candidates"]]
    aglp = _faithful("aglp", 0, 0, [{**_round(False, 750, 0, zs, 0.5), "candidates": verified}])
    aglp["budget"].update(train_examples=1000, epochs=1, candidate_train_examples=250)
    # 900 baseline examples, then three verified candidates at 1000 each instead of 250.
    assert full_budget_examples(aglp) == 900 + 3 * 1000
