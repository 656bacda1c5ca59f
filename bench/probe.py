"""`python -m bench.probe`: fine-tune only the full model at a budget, to check it beats chance first.

A pruning comparison means nothing when the full model never learned; one fine-tune is the cheapest
way to find a budget that works before spending the dozens a pruning run needs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
import typer
from scipy.special import log_softmax
from transformers import AutoTokenizer
from transformers.utils import logging as transformers_logging

from bench import machine
from bench.plan import REPO, TASKS, Budget, RunSpec, default_model, model_name, model_slug, resolve_model
from bench.record import write_json
from bench.reproduce import baseline_dir, default_data_dir
from worker.pruning import baseline_cache
from worker.pruning.data.load import load_task
from worker.pruning.metrics import IGNORE_INDEX
from worker.pruning.surgery import load_model
from worker.pruning.train import TrainRun, derive_seed, fine_tune, predict
from worker.pruning.types import TaskSpec

app = typer.Typer(add_completion=False, help=__doc__)


def diagnostics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Mean cross-entropy and the share of the most predicted class: ln(classes) and 1.0 mean no learning."""
    if logits.ndim == 3:  # token task: keep labelled positions only
        mask = labels != IGNORE_INDEX
        logits, labels = logits[mask], labels[mask]
    labels = labels.astype(int)
    loss = -log_softmax(logits, axis=-1)[np.arange(len(labels)), labels].mean()
    counts = np.bincount(logits.argmax(-1), minlength=logits.shape[-1])
    return {"loss": float(loss), "top_prediction_share": float(counts.max() / counts.sum())}


@app.command()
def main(
    task: Annotated[str, typer.Option(help=f"one of {', '.join(TASKS)}")],
    model: Annotated[str, typer.Option(help="dir, hub id or installed package; default: MiniLM-L6")] = "",
    train_examples: Annotated[int, typer.Option(min=1)] = 1000,
    max_length: Annotated[int, typer.Option(min=8)] = 128,
    epochs: Annotated[int, typer.Option(min=1)] = 1,
    learning_rate: Annotated[float, typer.Option(min=0.0, help="default: see Budget")] = Budget.learning_rate,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="default: SECATEUR_SHARED_DIR/data")] = None,
    results_dir: Annotated[Path, typer.Option()] = REPO / "bench" / "results" / "probes",
    device: Annotated[str, typer.Option()] = "cpu",
    work_dir: Annotated[
        Path, typer.Option(help="the probe's model joins bench.reproduce's baseline cache here")
    ] = REPO / "bench" / "work",
) -> None:
    """Fine-tune the full model once and write its scores next to chance, with loss and class collapse."""
    if task not in TASKS:
        raise typer.BadParameter(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    transformers_logging.disable_progress_bar()
    model = resolve_model(model) if model else default_model()
    budget = Budget(train_examples, epochs, max_length, learning_rate, batch_size)
    hp = budget.hyperparameters(seed)
    started = time.monotonic()
    data_dir = data_dir or default_data_dir()
    data = load_task(TaskSpec(name=task, data_dir=data_dir), AutoTokenizer.from_pretrained(model), hp)
    net = load_model(model, data.type, data.num_labels, label_names=data.label_names, seed=seed)
    # The same seed derivation as the engine's baseline, so the probe reproduces a run's full model.
    trained_at = time.monotonic()
    examples = fine_tune(net, data, hp, TrainRun(epochs, derive_seed(seed, 0, 0, 0), torch.device(device)))
    train_seconds = time.monotonic() - trained_at
    halves = {}
    for name, split in (("selection", data.selection), ("report", data.report)):
        logits, labels = predict(net, split, data, hp, device=torch.device(device))
        halves[name] = {"score": data.score(logits, labels), **diagnostics(logits, labels)}
    payload = {
        "task": task,
        "model": model_name(model),
        "seed": seed,
        "budget": {**budget.__dict__, "tag": budget.tag},
        "metric": data.metric,
        "chance_score": data.chance_score,
        **halves,
        "train_examples": examples,
        "train_seconds": train_seconds,
        "train_examples_per_s": examples / train_seconds,
        "seconds": time.monotonic() - started,
        "machine": machine.describe(device),
        "date": machine.now(),
    }
    # A pruning run whose baseline budget matches (e.g. --baseline-epochs there = --epochs here) reuses it.
    request = RunSpec(model, task, "aglp", seed, budget, 0.95, data_dir).request()
    fine_tuned = baseline_cache.Baseline(
        net, halves["selection"]["score"], halves["report"]["score"], examples, time.monotonic() - trained_at
    )
    baseline_cache.save(baseline_dir(work_dir), request, fine_tuned)
    path = results_dir / f"{model_slug(model)}__{task}__seed{seed}__{budget.tag}.json"
    write_json(path, payload)
    typer.echo(
        f"{task} {budget.tag}: selection {halves['selection']} report {halves['report']} "
        f"chance {data.chance_score:.3f}; {examples / train_seconds:.1f} ex/s; wrote {path}"
    )


if __name__ == "__main__":
    app()
