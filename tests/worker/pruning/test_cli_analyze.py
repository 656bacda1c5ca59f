"""`secateur analyze`: a tiny run prints the sensitivity table and trains only the baseline."""

from __future__ import annotations

import json
from pathlib import Path

from synthetic import write_task_files
from test_cli import _custom_args
from typer.testing import CliRunner

from app.cli import cli


def test_analyze_prints_every_round_and_layer(bert_dir: Path, tmp_path: Path) -> None:
    """Three rounds (4 -> 1 layers), every remaining layer's zero-shot figures, one fine-tune."""
    spec = write_task_files(tmp_path / "task")
    out = tmp_path / "out"
    args = ["analyze", "--model", str(bert_dir), "--out", str(out), "--epochs", "2", "--lr", "5e-3"]
    args += ["--max-length", "32", "--device", "cpu", *_custom_args(spec)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "zero-shot sensitivity" in result.output and "block influence" in result.output
    report = json.loads((out / "pruning_report.json").read_text())
    assert report["strategy"] == "analyze" and report["stopped_by"] == "floor"
    assert [len(r["candidates"]) for r in report["rounds"]] == [4, 3, 2]
    assert report["train_examples"] == 2 * 240
