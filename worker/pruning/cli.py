"""`secateur prune`: run the engine locally with a live progress display and a summary table.

Torch and transformers are imported inside the command only, so registering this command in the
API's CLI keeps that process torch-free.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import cast

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from secateur.kernel.hyperparameters import KNOBS
from secateur.kernel.vocabulary import (
    BASELINE_MODES,
    BUILTIN_TASKS,
    DEFAULT_BASELINE,
    DEFAULT_STRATEGY,
    STRATEGIES,
    TASK_TYPES,
)
from worker.pruning.errors import PruningError
from worker.pruning.types import (
    BaselineMode,
    Depth,
    Hyperparameters,
    PruneRequest,
    PruneResult,
    RoundRecord,
    RunWarning,
    Strategy,
    TaskSpec,
    TaskType,
)

DEFAULTS = Hyperparameters()
TASK_HELP = f"Built-in task: {', '.join(BUILTIN_TASKS)} (or a common alias)."
TYPE_HELP = f"Custom task: {', '.join(TASK_TYPES)}."
BASELINE_HELP = "fine-tune (fresh head, trained) or as-is (the model is already fine-tuned for the task)."

prune_app = typer.Typer(add_completion=False, help="Prune the layers of a transformer encoder.")
console = Console(stderr=True)


def _fmt(value: float | None) -> str:
    """A score for display."""
    return "-" if value is None else f"{value:.4f}"


class ProgressObserver:
    """An engine observer that drives a rich progress display."""

    def __init__(self, progress: Progress) -> None:
        """Attach to a running progress display."""
        self.progress = progress
        self.task = progress.add_task("fine-tuning the full model (baseline)", total=None)
        self.round = 0

    def on_baseline(self, score: float, report_score: float, layers_total: int) -> None:
        """Show the baseline."""
        self.progress.console.print(
            f"baseline: selection {_fmt(score)}, report {_fmt(report_score)}, {layers_total} layers"
        )
        self.progress.update(self.task, description="round 1: scoring candidates")

    def on_candidate(self, rnd: int, layer: int, score: float, seconds: float) -> None:
        """Show the last candidate scored; logged as a line too when output is not a terminal."""
        line = f"round {rnd}: without layer {layer} -> {_fmt(score)} ({seconds:.0f}s)"
        if not self.progress.console.is_terminal:
            self.progress.console.print(line)
        self.progress.update(self.task, description=line)

    def on_round(self, record: RoundRecord) -> None:
        """Print the round's outcome."""
        verdict = "accepted" if record.accepted else "rejected"
        self.progress.console.print(
            f"round {record.round}: removed layer {record.removed_layer}, selection {_fmt(record.score)}, "
            f"report {_fmt(record.report_score)}, retained {_fmt(record.retained_fraction)} ({verdict})"
        )
        self.progress.update(self.task, description=f"round {record.round + 1}: scoring candidates")

    def on_checkpoint(self, directory: Path) -> None:
        """Nothing to show."""

    def on_warning(self, warning: RunWarning) -> None:
        """Show a warning as soon as the engine raises it."""
        self.progress.console.print(f"[yellow]warning ({warning.code}):[/yellow] {warning.message}")

    def on_depth(self, depth: Depth) -> None:
        """Say where an accepted depth was saved."""
        self.progress.console.print(f"saved the {depth.layers}-layer model to {depth.directory}")

    def heartbeat(self) -> None:
        """Keep the spinner moving."""
        self.progress.refresh()

    def should_stop(self) -> bool:
        """Ctrl-C is the way to stop a local run."""
        return False


def _summary(result: PruneResult) -> Table:
    """The rounds and the outcome as a table."""
    table = Table(title=f"{result.strategy}: {result.metric}, baseline {_fmt(result.baseline_score)}")
    for column in ("round", "removed", "selection", "report", "retained", "accepted", "seconds"):
        table.add_column(column, justify="right")
    for r in result.rounds:
        table.add_row(
            str(r.round),
            str(r.removed_layer),
            _fmt(r.score),
            _fmt(r.report_score),
            _fmt(r.retained_fraction),
            "yes" if r.accepted else "no",
            f"{r.seconds:.0f}",
        )
    return table


def task_spec(
    *,
    name: str | None,
    task_type: str | None,
    data: Path | None,
    train_file: Path | None,
    validation_file: Path | None,
    text_field: list[str],
    label_field: str | None,
    metric: str | None = None,
) -> TaskSpec:
    """The task from the command's options; an unknown --type is a usage error."""
    if task_type is not None and task_type not in TASK_TYPES:
        raise typer.BadParameter(f"must be one of {', '.join(TASK_TYPES)}", param_hint="--type")
    return TaskSpec(
        name=name,
        type=cast(TaskType | None, task_type),
        data_dir=data,
        train_file=train_file,
        validation_file=validation_file,
        text_fields=tuple(text_field),
        label_field=label_field,
        metric=metric,
    )


def check_baseline_mode(baseline: str) -> None:
    """An unknown --baseline is a usage error."""
    if baseline not in BASELINE_MODES:
        raise typer.BadParameter(f"must be one of {', '.join(BASELINE_MODES)}", param_hint="--baseline")


@prune_app.command("prune")
def prune(
    model: str = typer.Option(..., help="Local HF model directory (safetensors) or hub id."),
    out: Path = typer.Option(..., help="Where to save the pruned model and pruning_report.json."),
    task: str | None = typer.Option(None, help=TASK_HELP),
    data: Path | None = typer.Option(None, help="Folder with the task's standard files (e.g. GLUE TSVs)."),
    retention: float = typer.Option(0.95, help="Fraction of the full model's score to keep, in (0, 1]."),
    strategy: str = typer.Option(DEFAULT_STRATEGY, help=f"One of {', '.join(STRATEGIES)}."),
    epochs: int = typer.Option(DEFAULTS.epochs, help=KNOBS["epochs"].doc),
    candidate_epochs: int = typer.Option(DEFAULTS.candidate_epochs, help=KNOBS["candidate_epochs"].doc),
    repurpose_epochs: int = typer.Option(DEFAULTS.repurpose_epochs, help=KNOBS["repurpose_epochs"].doc),
    lr: float = typer.Option(DEFAULTS.learning_rate, help=KNOBS["learning_rate"].doc),
    batch_size: int = typer.Option(DEFAULTS.batch_size, help=KNOBS["batch_size"].doc),
    max_length: int = typer.Option(DEFAULTS.max_length, help=KNOBS["max_length"].doc),
    seed: int = typer.Option(DEFAULTS.seed, help=KNOBS["seed"].doc),
    max_train_examples: int | None = typer.Option(None, help=KNOBS["max_train_examples"].doc),
    candidate_train_examples: int | None = typer.Option(None, help=KNOBS["candidate_train_examples"].doc),
    shortlist: int = typer.Option(DEFAULTS.shortlist, help=KNOBS["shortlist"].doc),
    max_train_examples_total: int | None = typer.Option(None, help=KNOBS["max_train_examples_total"].doc),
    min_layers: int = typer.Option(1, help="Never prune below this many layers."),
    run_to_end: bool = typer.Option(False, help="Keep pruning past the threshold (for curves)."),
    device: str | None = typer.Option(None, help="cpu, cuda, cuda:1...; default CUDA when present."),
    checkpoint_dir: Path | None = typer.Option(None, help="Checkpoint here and resume from it."),
    baseline_cache: Path | None = typer.Option(
        None, help="Reuse or store the fine-tuned full model here, shared by runs differing only in strategy."
    ),
    train_file: Path | None = typer.Option(None, help="Custom task: training file (CSV, TSV, JSONL, CoNLL)."),
    validation_file: Path | None = typer.Option(None, help="Custom task: labelled dev file."),
    text_field: list[str] = typer.Option([], help="Custom task: text column (repeat for pairs)."),
    label_field: str | None = typer.Option(None, help="Custom task: label column."),
    task_type: str | None = typer.Option(None, "--type", help=TYPE_HELP),
    metric: str | None = typer.Option(None, help="Override the task's default metric."),
    baseline: str = typer.Option(DEFAULT_BASELINE, help=BASELINE_HELP),
    allow_weak_baseline: bool = typer.Option(False, help="Run on even if the full model does not learn."),
    protected_layer: list[int] = typer.Option([], help="Original layer index never removed (repeat)."),
    target_layers: int | None = typer.Option(None, help="Stop once the model has this many layers."),
    keep_depths: bool = typer.Option(False, help="Save every accepted depth under OUT/depths."),
    latency_runs: int = typer.Option(5, help="Timed forward passes per model (median); 0 skips."),
) -> None:
    """Prune a model's layers while keeping `retention` of its fine-tuned score."""
    if strategy not in STRATEGIES:
        raise typer.BadParameter(f"must be one of {', '.join(STRATEGIES)}", param_hint="--strategy")
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
            metric=metric,
        ),
        retention=retention,
        strategy=cast(Strategy, strategy),
        device=device,
        min_layers=min_layers,
        run_to_end=run_to_end,
        baseline=cast(BaselineMode, baseline),
        allow_weak_baseline=allow_weak_baseline,
        protected_layers=tuple(protected_layer),
        target_layers=target_layers,
        latency_runs=latency_runs,
        hyperparameters=Hyperparameters(
            epochs=epochs,
            candidate_epochs=candidate_epochs,
            repurpose_epochs=repurpose_epochs,
            learning_rate=lr,
            batch_size=batch_size,
            max_length=max_length,
            seed=seed,
            max_train_examples=max_train_examples,
            candidate_train_examples=candidate_train_examples,
            shortlist=shortlist,
            max_train_examples_total=max_train_examples_total,
        ),
    )
    began = time.monotonic()
    result = run(request, out, checkpoint_dir, baseline_cache, out / "depths" if keep_depths else None)
    console.print(_summary(result))
    console.print(
        f"kept layers {list(result.kept_layers)}, removed {list(result.removed_layers)}; "
        f"selection {_fmt(result.score)} (baseline {_fmt(result.baseline_score)}, chance "
        f"{_fmt(result.chance_score)}), report {_fmt(result.report_score)}; parameters "
        f"{result.parameters_before:,} -> {result.parameters_after:,}; {result.train_examples:,} training "
        f"examples; stopped by the {result.stopped_by}; {time.monotonic() - began:.0f}s; saved to {out}"
    )
    if result.latency is not None:
        lat = result.latency
        console.print(
            f"latency on {lat.device}, batch {lat.batch_size} x {lat.sequence_length} tokens, median of "
            f"{lat.runs}: full {lat.full_ms:.1f} ms, pruned {lat.pruned_ms:.1f} ms, {lat.speedup:.2f}x"
        )
    for warning in result.warnings:
        console.print(f"[yellow]warning ({warning.code}):[/yellow] {warning.message}")


def run(
    request: PruneRequest,
    out: Path,
    checkpoint_dir: Path | None,
    baseline_cache: Path | None,
    depths_dir: Path | None = None,
) -> PruneResult:
    """Run the engine with a live progress display; a request error exits with status 2."""
    try:
        from transformers.utils import logging as hf_logging

        from worker.pruning.engine import prune as run_prune  # torch stays out of processes that never prune

        # The load reports of every checkpoint reload would drown the progress display.
        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()

        columns = (SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as progress:
            result = run_prune(
                request,
                ProgressObserver(progress),
                out_dir=out,
                checkpoint_dir=checkpoint_dir,
                baseline_cache_dir=baseline_cache,
                depths_dir=depths_dir,
            )
    except PruningError as exc:
        console.print(f"[red]error ({exc.code}):[/red] {exc}")
        raise typer.Exit(2) from None
    return result


if __name__ == "__main__":
    prune_app()
