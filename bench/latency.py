"""CPU inference latency and throughput of a pruned model against the full architecture, same inputs."""

from __future__ import annotations

import csv
import random
import statistics
import time
from pathlib import Path
from typing import Any

import torch
import transformers
from transformers import AutoConfig, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

Text = str | tuple[str, str] | list[str]

# Column layout of each built-in task's dev file: (file, has header, text columns); see SOURCE.md.
GLUE_DEV = {
    "sst2": ("dev.tsv", True, (0,)),
    "cola": ("dev.tsv", False, (3,)),
    "mrpc": ("dev.tsv", True, (3, 4)),
    "rte": ("dev.tsv", True, (1, 2)),
}


def dev_texts(task: str, task_dir: Path, n: int, seed: int = 0) -> list[Text]:
    """`n` real dev-set inputs of a built-in task (sentences, sentence pairs or word lists), seeded sample."""
    rows: list[Text] = []
    if task in GLUE_DEV:
        name, header, cols = GLUE_DEV[task]
        with (task_dir / name).open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
            lines = list(reader)[1 if header else 0 :]
        rows = [line[cols[0]] if len(cols) == 1 else (line[cols[0]], line[cols[1]]) for line in lines]
    elif task.startswith("conll2003"):
        words: list[str] = []
        for line in [*(task_dir / "valid.txt").read_text(encoding="utf-8").splitlines(), ""]:
            if line.strip() and not line.startswith("-DOCSTART-"):
                words.append(line.split()[0])
            elif words:
                rows.append(words)
                words = []
    else:
        raise ValueError(f"no latency inputs for task {task!r}")
    if len(rows) < n:
        raise ValueError(f"{task}: the dev set has {len(rows)} inputs, fewer than the latency batch of {n}")
    return random.Random(seed).sample(rows, n)


def encode(tokenizer: PreTrainedTokenizerBase, texts: list[Text], max_length: int) -> dict[str, torch.Tensor]:
    """Tokenize one batch, padded to its longest input, as the models will see it."""
    kwargs: dict[str, Any] = {
        "truncation": True,
        "max_length": max_length,
        "padding": True,
        "return_tensors": "pt",
    }
    if isinstance(texts[0], list):
        return dict(tokenizer(texts, is_split_into_words=True, **kwargs))
    if isinstance(texts[0], tuple):
        first, second = zip(*texts, strict=True)
        return dict(tokenizer(list(first), list(second), **kwargs))
    return dict(tokenizer(texts, **kwargs))


def full_twin(pruned: PreTrainedModel, model: str, layers_total: int) -> PreTrainedModel:
    """The unpruned architecture with the pruned model's head; random weights, as latency ignores them."""
    config = AutoConfig.from_pretrained(model)
    for key in ("num_labels", "id2label", "label2id", "problem_type"):
        setattr(config, key, getattr(pruned.config, key))
    config.num_hidden_layers = layers_total
    return type(pruned)(config)


def load_pruned(path: Path) -> PreTrainedModel:
    """Load the engine's saved model with the class its config names."""
    config = AutoConfig.from_pretrained(path)
    cls = getattr(transformers, (config.architectures or ["AutoModelForSequenceClassification"])[0])
    return cls.from_pretrained(path)


def count_parameters(model: torch.nn.Module) -> int:
    """All parameters of a model."""
    return sum(p.numel() for p in model.parameters())


def compare(
    pruned_dir: Path,
    model: str,
    layers_total: int,
    texts: list[Text],
    max_length: int,
    threads: int = 1,
    warmup: int = 3,
    runs: int = 10,
) -> dict[str, Any]:
    """Median forward time of the full and pruned models on one batch, interleaved to share CPU noise."""
    pruned = load_pruned(pruned_dir).eval()
    full = full_twin(pruned, model, layers_total).eval()
    batch = encode(AutoTokenizer.from_pretrained(model), texts, max_length)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    times: dict[str, list[float]] = {"full": [], "pruned": []}
    try:
        with torch.inference_mode():
            for step in range(warmup + runs):
                for name, net in (("full", full), ("pruned", pruned)):
                    start = time.perf_counter()
                    net(**batch)
                    if step >= warmup:
                        times[name].append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    size = len(texts)
    full_s, pruned_s = statistics.median(times["full"]), statistics.median(times["pruned"])
    return {
        "device": "cpu",
        "threads": threads,
        "batch_size": size,
        "sequence_length": int(batch["input_ids"].shape[1]),
        "warmup": warmup,
        "runs": runs,
        "full_layers": layers_total,
        "pruned_layers": int(pruned.config.num_hidden_layers),
        "full_parameters": count_parameters(full),
        "pruned_parameters": count_parameters(pruned),
        "full_ms": 1000 * full_s,
        "pruned_ms": 1000 * pruned_s,
        "full_examples_per_s": size / full_s,
        "pruned_examples_per_s": size / pruned_s,
        "speedup": full_s / pruned_s,
    }
