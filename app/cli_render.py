"""How the client commands print: problems, job tables, one job, and the rounds grid."""

import json
from typing import Any

from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from app.client import ApiError
from app.client.models import JobOut, RoundOut

STATUS_STYLES = {"succeeded": "green", "failed": "red", "cancelled": "yellow", "running": "cyan"}


def print_problem(console: Console, error: ApiError) -> None:
    """A problem+json error as a few readable lines: status and title, detail, then each field."""
    status = f"{error.status} " if error.status else ""
    console.print(
        Text.assemble(("Error: ", "bold red"), f"{status}{error.title}", (f" ({error.code})", "dim"))
    )
    if error.detail:
        console.print(f"  {error.detail}", highlight=False, markup=False)
    for item in error.errors:
        where = item.get("field") or item.get("member") or ""
        message = item.get("message", "")
        if where and f"{where}: {message}" != error.detail:
            console.print(f"  - {where}: {message}", highlight=False, markup=False)
    if error.status == 401:
        console.print("  Check --api-key or SECATEUR_API_KEY.", style="dim")


def print_json(console: Console, value: Any) -> None:
    """Machine-readable output, unstyled."""
    console.print_json(json.dumps(value))


def print_table(console: Console, table: Table) -> None:
    """A table at the terminal's width, or up to 200 columns when piped (rich would assume 80)."""
    console.print(table, width=None if console.is_terminal else 200)


def status_text(status: str) -> Text:
    """A job status, coloured."""
    return Text(status, style=STATUS_STYLES.get(status, ""))


def jobs_table(jobs: list[JobOut]) -> Table:
    """One row per job: id, status, model, strategy, retention, progress and age."""
    # Ids are copied from here, so they are never wrapped.
    table = Table(
        Column("id", no_wrap=True), "status", "model", "strategy", "retention", "layers left", "score"
    )
    table.add_column("created")
    for job in jobs:
        p = job.progress
        layers = f"{p.layers_remaining}/{p.layers_total}" if p.layers_total else "-"
        score = f"{p.current_score:.4f}" if p.current_score is not None else "-"
        created = job.created_at.strftime("%Y-%m-%d %H:%M")
        table.add_row(
            job.id,
            status_text(job.status),
            job.model,
            job.strategy,
            f"{job.retention:g}",
            layers,
            score,
            created,
        )
    return table


def job_table(job: JobOut) -> Table:
    """One job as a two-column table: request, timing, progress, result or error."""
    table = Table(show_header=False, box=None, pad_edge=False)
    rows: list[tuple[str, Any]] = [
        ("id", job.id),
        ("status", status_text(job.status)),
        ("model", job.model),
        ("task", json.dumps(job.task)),
        ("strategy / retention", f"{job.strategy} / {job.retention:g}"),
        ("created", job.created_at.isoformat()),
        ("started", job.started_at.isoformat() if job.started_at else "-"),
        ("finished", job.finished_at.isoformat() if job.finished_at else "-"),
    ]
    p = job.progress
    if p.layers_total:
        rows.append(("progress", f"round {p.round}, {p.layers_remaining}/{p.layers_total} layers left"))
    if p.baseline_score is not None:
        threshold = job.retention * p.baseline_score
        current = f"{p.current_score:.4f}" if p.current_score is not None else "-"
        rows.append(("score", f"{current} (full model {p.baseline_score:.4f}, threshold {threshold:.4f})"))
    if job.result is not None:
        r = job.result
        rows.append(("removed layers", f"{r.layers_removed}: {r.removed_layers} (kept {r.kept_layers})"))
        rows.append(("parameters", f"{r.parameters_before:,} -> {r.parameters_after:,}"))
        rows.append(("artifact", f"{r.artifact.bytes} bytes, sha256 {r.artifact.sha256}"))
    if job.error is not None:
        rows.append(("error", Text(f"{job.error.code}: {job.error.message}", style="red")))
    for name, value in rows:
        table.add_row(Text(name, style="bold"), value)
    return table


def rounds_table(rounds: list[RoundOut]) -> Table:
    """A round x layer grid of candidate scores; the layer each round removed is starred.

    A candidate ranked only zero-shot (an `aglp-shortlist` or `analyze` round) shows its untrained
    score in brackets, so the fine-tuned and the zero-shot figures are never mistaken for each other.
    """
    layers = sorted({c.layer for r in rounds for c in r.candidates})
    table = Table("round", *(f"L{layer}" for layer in layers), "removed", "score", "retained", "kept")
    for r in rounds:
        by_layer = {c.layer: c for c in r.candidates}
        cells: list[Text] = []
        for layer in layers:
            candidate = by_layer.get(layer)
            if candidate is None:
                cells.append(Text("·", style="dim"))
                continue
            if candidate.score is not None:
                figure = f"{candidate.score:.4f}"
            elif candidate.zero_shot_score is not None:
                figure = f"({candidate.zero_shot_score:.4f})"
            else:
                figure = "-"
            if layer == r.removed_layer:
                cells.append(Text(f"★{figure}", style="bold green" if r.accepted else "bold red"))
            else:
                cells.append(Text(figure, style="" if candidate.score is not None else "dim"))
        score = f"{r.score:.4f}" if r.score is not None else "-"
        retained = f"{r.retained_fraction:.3f}" if r.retained_fraction is not None else "-"
        kept = Text("yes", style="green") if r.accepted else Text("no: below threshold", style="red")
        table.add_row(str(r.round), *cells, str(r.removed_layer), score, retained, kept)
    return table
