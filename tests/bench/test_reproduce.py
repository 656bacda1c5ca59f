"""End to end on a tiny BERT and synthetic GLUE-layout data: JSON, results.md and a plot; reruns skip."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from bench.reproduce import app
from tests.support.synthetic import KEYWORD, WORDS, make_model_dir


def sst2_like(root: Path) -> Path:
    """A data root with glue/SST-2/{train,dev}.tsv: label 1 when the sentence holds the word `good`."""
    rng = random.Random(0)
    folder = root / "glue" / "SST-2"
    folder.mkdir(parents=True)
    for name, n in (("train.tsv", 48), ("dev.tsv", 40)):
        lines = ["sentence\tlabel"]
        for i in range(n):
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 8))]
            if i % 2:
                words[rng.randrange(len(words))] = KEYWORD
            lines.append(f"{' '.join(words)}\t{i % 2}")
        (folder / name).write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(autouse=True)
def _few_threads() -> None:
    """One thread: the team shares two cores."""
    torch.set_num_threads(1)


def test_run_writes_record_report_and_plot_then_skips(tmp_path: Path) -> None:
    """One strategy on one task produces a full record, renders the docs, and is skipped the second time."""
    results, docs, work = tmp_path / "results", tmp_path / "docs", tmp_path / "work"
    args = [
        "--model",
        str(make_model_dir(tmp_path, "bert", layers=2)),
        "--tasks",
        "sst2",
        "--strategies",
        "top",
        "--seeds",
        "0",
        "--train-examples",
        "32",
        "--max-length",
        "32",
        "--batch-size",
        "8",
        "--epochs",
        "1",
        "--data-dir",
        str(sst2_like(tmp_path / "data")),
        "--results-dir",
        str(results),
        "--work-dir",
        str(work),
        "--docs-dir",
        str(docs),
        "--device",
        "cpu",
        "--latency-batch",
        "4",
        "--latency-runs",
        "2",
        "--latency-warmup",
        "1",
    ]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output + repr(first.exception)

    (path,) = results.glob("*.json")
    record = json.loads(path.read_text())
    summary = record["summary"]
    assert record["task"] == "sst2" and record["strategy"] == "top" and record["seed"] == 0
    assert record["budget"]["train_examples"] == 32 and record["machine"]["cpu"]
    assert summary["layers_total"] == 2 and summary["metric"] == "accuracy"
    chance = summary["chance_score"]
    bar = chance + 0.1 * (1 - chance)  # closes a tenth of the gap from chance to a perfect score
    assert summary["learned"] == (min(summary["baseline_score"], summary["baseline_report_score"]) >= bar)
    # run_to_end: the curve goes from the full model down to one layer, whatever retention allowed.
    assert [p["layers_removed"] for p in record["curve"]] == [0, 1]
    assert summary["train_examples"] == 64 and summary["fine_tunes"] == 2
    assert summary["parameters_after"] <= summary["parameters_before"]
    latency = record["latency"]
    assert latency["batch_size"] == 4 and latency["full_layers"] == 2
    assert latency["pruned_layers"] == 2 - summary["layers_removed"]
    assert latency["full_parameters"] == summary["parameters_before"]
    assert latency["pruned_parameters"] == summary["parameters_after"] and latency["speedup"] > 0
    assert not list(results.glob("*.partial.json")) and not (work / record["run_id"]).exists()

    markdown = (docs / "results.md").read_text()
    assert "| sst2 | accuracy | 32 ex x 1 ep, lr 0.0001, batch 8, len 32 | 0 |" in markdown
    assert (docs / "curve-sst2.png").read_bytes()[:4] == b"\x89PNG"

    stamp = path.stat().st_mtime_ns
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "done, skipped" in second.output and path.stat().st_mtime_ns == stamp
    assert record["timing"]["baseline_reused"] is False

    # Another strategy at the same budget starts from the cached fine-tuned full model.
    third = CliRunner().invoke(app, [*args[:5], "glp", *args[6:]])
    assert third.exit_code == 0, third.output + repr(third.exception)
    glp = json.loads(next(results.glob("*__glp__*.json")).read_text())
    assert glp["timing"]["baseline_reused"] is True
    assert glp["summary"]["baseline_score"] == summary["baseline_score"]
    assert glp["summary"]["baseline_report_score"] == summary["baseline_report_score"]


def test_bad_task_is_rejected_by_name(tmp_path: Path) -> None:
    """An unknown task stops the CLI before any work, naming the task."""
    result = CliRunner().invoke(app, ["--tasks", "qnli", "--data-dir", str(tmp_path), "--model", "x"])
    assert result.exit_code != 0 and "qnli" in result.output


def test_shortlist_sizes_plan_one_run_each_and_bad_sizes_are_refused(tmp_path: Path) -> None:
    """The dry run lists one aglp-shortlist run per size; a size of 0 stops the CLI with its name."""
    base = ["--tasks", "sst2", "--seeds", "0", "--extra-seeds", "", "--data-dir", str(tmp_path)]
    base += ["--model", "x", "--results-dir", str(tmp_path / "r"), "--strategies", "aglp-shortlist"]
    planned = CliRunner().invoke(app, [*base, "--shortlist", "1,2", "--dry-run"])
    assert planned.exit_code == 0, planned.output
    assert "__sst2__aglp-shortlist1__seed0__" in planned.output
    assert "__sst2__aglp-shortlist2__seed0__" in planned.output and "2 runs" in planned.output
    refused = CliRunner().invoke(app, [*base, "--shortlist", "0", "--dry-run"])
    assert refused.exit_code != 0 and "--shortlist" in refused.output


def test_probe_writes_full_model_scores_and_report_lists_them(tmp_path: Path) -> None:
    """The probe fine-tunes the full model once and records scores, chance, loss and class collapse."""
    from bench.probe import app as probe_app
    from bench.report import render

    results = tmp_path / "results"
    args = [
        "--task",
        "sst2",
        "--model",
        str(make_model_dir(tmp_path, "bert", layers=2)),
        "--train-examples",
        "16",
        "--max-length",
        "32",
        "--batch-size",
        "8",
        "--data-dir",
        str(sst2_like(tmp_path / "data")),
        "--results-dir",
        str(results / "probes"),
        "--work-dir",
        str(tmp_path / "work"),
    ]
    outcome = CliRunner().invoke(probe_app, args)
    assert outcome.exit_code == 0, outcome.output + repr(outcome.exception)
    (path,) = (results / "probes").glob("*.json")
    probe = json.loads(path.read_text())
    assert probe["train_examples"] == 16 and probe["budget"]["learning_rate"] == 1e-4
    for half in ("selection", "report"):
        assert 0.0 <= probe[half]["score"] <= 1.0 and probe[half]["loss"] > 0
        assert 0.5 <= probe[half]["top_prediction_share"] <= 1.0
    # The probe's model joins the baseline cache, so a pruning run at this budget starts from it.
    (entry,) = (tmp_path / "work" / "baselines").iterdir()
    cached = json.loads((entry / "baseline.json").read_text())
    assert cached["score"] == probe["selection"]["score"]
    assert cached["report_score"] == probe["report"]["score"]
    markdown = render(results, tmp_path / "docs").read_text()
    assert "No run has finished yet." in markdown and "| sst2 | 16 ex x 1 ep, lr 0.0001 | 0 |" in markdown
