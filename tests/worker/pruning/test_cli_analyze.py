"""`secateur analyze`: a tiny run prints the sensitivity table and trains only the baseline."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from secateur.cli import cli
from tests.support.synthetic import custom_task_args, write_task_files


def test_analyze_prints_every_round_and_layer(bert_dir: Path, tmp_path: Path) -> None:
    """Three rounds (4 -> 1 layers), every remaining layer's zero-shot figures, one fine-tune."""
    spec = write_task_files(tmp_path / "task")
    out = tmp_path / "out"
    args = ["analyze", "--model", str(bert_dir), "--out", str(out), "--epochs", "2", "--lr", "5e-3"]
    args += ["--max-length", "32", "--device", "cpu", *custom_task_args(spec)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "zero-shot sensitivity" in result.output and "block influence" in result.output
    report = json.loads((out / "pruning_report.json").read_text())
    assert report["strategy"] == "analyze" and report["stopped_by"] == "floor"
    assert [len(r["candidates"]) for r in report["rounds"]] == [4, 3, 2]
    assert report["train_examples"] == 2 * 240


def test_analyze_an_already_fine_tuned_model_trains_nothing(bert_dir: Path, tmp_path: Path) -> None:
    """--baseline as-is scores the uploaded head as it is: the whole analysis costs no training."""
    from transformers import AutoModelForSequenceClassification

    spec = write_task_files(tmp_path / "task")
    tuned = tmp_path / "tuned"
    AutoModelForSequenceClassification.from_pretrained(bert_dir, num_labels=2).save_pretrained(tuned)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        if (bert_dir / name).exists():
            (tuned / name).write_bytes((bert_dir / name).read_bytes())
    out = tmp_path / "out"
    args = ["analyze", "--model", str(tuned), "--out", str(out), "--baseline", "as-is"]
    # A random head does not beat chance; the point here is that nothing is trained.
    args += ["--allow-weak-baseline", "--max-length", "32", "--device", "cpu", *custom_task_args(spec)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "pruning_report.json").read_text())
    assert report["train_examples"] == 0 and len(report["rounds"]) == 3


def test_analyze_refuses_an_unknown_baseline_mode(bert_dir: Path, tmp_path: Path) -> None:
    """A typo in --baseline is a usage error naming the option."""
    args = [
        "analyze",
        "--model",
        str(bert_dir),
        "--out",
        str(tmp_path),
        "--baseline",
        "asis",
        "--task",
        "sst2",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "--baseline" in result.output
