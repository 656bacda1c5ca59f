"""`secateur analyze`: the per-layer sensitivity table from greedy zero-shot removal, before pruning."""

from __future__ import annotations

from pathlib import Path
from typing import cast

import typer
from rich.table import Table

from secateur.kernel.hyperparameters import KNOBS
from secateur.kernel.vocabulary import DEFAULT_BASELINE
from worker.pruning.cli import (
    BASELINE_HELP,
    DEFAULTS,
    TASK_HELP,
    TYPE_HELP,
    check_baseline_mode,
    console,
    run,
    task_spec,
)
from worker.pruning.types import BaselineMode, Hyperparameters, PruneRequest, PruneResult


def sensitivity(result: PruneResult) -> Table:
    """Per round and remaining layer: zero-shot metric and loss without it, and its Block Influence."""
    table = Table(
        title=f"zero-shot sensitivity: {result.metric}, fine-tuned full model {result.baseline_score:.4f}"
    )
    for column in ("round", "layers", "layer", result.metric, "loss", "block influence", "removed"):
        table.add_column(column, justify="right")
    for r in result.rounds:
        for c in r.candidates:
            table.add_row(
                str(r.round),
                str(r.layers_before),
                str(c.layer),
                f"{c.zero_shot_score:.4f}" if c.zero_shot_score is not None else "-",
                f"{c.zero_shot_loss:.4f}" if c.zero_shot_loss is not None else "-",
                f"{c.block_influence:.4f}" if c.block_influence is not None else "-",
                "<-" if c.layer == r.removed_layer else "",
            )
        table.add_section()
    return table


def analyze(
    model: str = typer.Option(..., help="Local HF model directory (safetensors) or hub id."),
    out: Path = typer.Option(..., help="Where to save pruning_report.json (and the last accepted model)."),
    task: str | None = typer.Option(None, help=TASK_HELP),
    data: Path | None = typer.Option(None, help="Folder with the task's standard files (e.g. GLUE TSVs)."),
    retention: float = typer.Option(0.95, help="Marks which depths keep this fraction of the baseline."),
    epochs: int = typer.Option(DEFAULTS.epochs, help="Epochs for the baseline fine-tune, the only training."),
    lr: float = typer.Option(DEFAULTS.learning_rate, help=KNOBS["learning_rate"].doc),
    batch_size: int = typer.Option(DEFAULTS.batch_size, help=KNOBS["batch_size"].doc),
    max_length: int = typer.Option(DEFAULTS.max_length, help=KNOBS["max_length"].doc),
    seed: int = typer.Option(DEFAULTS.seed, help=KNOBS["seed"].doc),
    max_train_examples: int | None = typer.Option(None, help=KNOBS["max_train_examples"].doc),
    min_layers: int = typer.Option(1, help="Stop the removal at this many layers."),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:1...; default CUDA when present."),
    baseline_cache: Path | None = typer.Option(None, help="Reuse or store the fine-tuned full model here."),
    train_file: Path | None = typer.Option(None, help="Custom task: training file (CSV, TSV, JSONL, CoNLL)."),
    validation_file: Path | None = typer.Option(None, help="Custom task: labelled dev file."),
    text_field: list[str] = typer.Option([], help="Custom task: text column (repeat for pairs)."),
    label_field: str | None = typer.Option(None, help="Custom task: label column."),
    task_type: str | None = typer.Option(None, "--type", help=TYPE_HELP),
    baseline: str = typer.Option(DEFAULT_BASELINE, help=BASELINE_HELP),
    allow_weak_baseline: bool = typer.Option(False, help="Run on even if the full model does not learn."),
) -> None:
    """Fine-tune the full model once (or take it as-is), then remove layers greedily by zero-shot score."""
    check_baseline_mode(baseline)
    request = PruneRequest(
        model=model,
        task=task_spec(
            name=task,
            task_type=task_type,
            data=data,
            train_file=train_file,
            validation_file=validation_file,
            text_field=text_field,
            label_field=label_field,
        ),
        retention=retention,
        strategy="analyze",
        device=device,
        min_layers=min_layers,
        baseline=cast(BaselineMode, baseline),
        allow_weak_baseline=allow_weak_baseline,
        hyperparameters=Hyperparameters(
            epochs=epochs,
            learning_rate=lr,
            batch_size=batch_size,
            max_length=max_length,
            seed=seed,
            max_train_examples=max_train_examples,
        ),
    )
    result = run(request, out, None, baseline_cache)
    console.print(sensitivity(result))
    console.print(f"{result.train_examples:,} training examples (the baseline); {result.seconds:.0f}s")
