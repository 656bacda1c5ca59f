"""Tiny offline models, a word-level tokenizer and learnable keyword tasks for the engine's tests."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from datasets import Dataset
from scipy.stats import pearsonr
from sklearn.metrics import accuracy_score
from tokenizers import Tokenizer, models, pre_tokenizers, processors
from transformers import AutoConfig, AutoModel, PreTrainedTokenizerFast

from worker.pruning.types import RoundRecord

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [f"w{i}" for i in range(24)]
KEYWORD = "good"
VOCAB = SPECIALS + WORDS + [KEYWORD]

ARCHITECTURES = ("bert", "roberta", "distilbert", "electra", "mpnet", "deberta-v2")


def tiny_config(model_type: str, layers: int = 4) -> Any:
    """A 4-layer, hidden-32 config of `model_type` over the tiny vocabulary."""
    if model_type == "distilbert":
        kw: dict[str, Any] = {"n_layers": layers, "dim": 32, "n_heads": 2, "hidden_dim": 64}
    else:
        kw = {
            "num_hidden_layers": layers,
            "hidden_size": 32,
            "num_attention_heads": 2,
            "intermediate_size": 64,
        }
    kw.update(vocab_size=len(VOCAB), max_position_embeddings=64, pad_token_id=0)
    if model_type == "roberta":
        kw["max_position_embeddings"] = 80  # RoBERTa offsets positions by the padding index
    return AutoConfig.for_model(model_type, **kw)


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A whitespace word-level tokenizer with BERT-style [CLS] ... [SEP] framing, built offline."""
    vocab = {token: i for i, token in enumerate(VOCAB)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        pad_token="[PAD]",
        unk_token="[UNK]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=48,
    )


def make_model_dir(root: Path, model_type: str = "bert", seed: int = 0, layers: int = 4) -> Path:
    """Save a randomly initialised tiny encoder (safetensors) and the tokenizer as a 'pretrained' dir."""
    import torch

    torch.manual_seed(seed)
    path = root / f"tiny-{model_type}"
    AutoModel.from_config(tiny_config(model_type, layers)).save_pretrained(path, safe_serialization=True)
    tiny_tokenizer().save_pretrained(path)
    return path


def sentences(n: int, seed: int) -> list[list[str]]:
    """`n` random sentences of 4-10 words; about half contain the keyword."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randint(4, 10))]
        if rng.random() < 0.5:
            words[rng.randrange(len(words))] = KEYWORD
        out.append(words)
    return out


@dataclass
class SyntheticTask:
    """Shaped like the data layer's TaskData."""

    type: str
    metric: str
    num_labels: int
    label_names: list[str] | None
    train: Dataset
    selection: Dataset
    report: Dataset
    collator: Callable[[list[dict[str, Any]]], Any]
    chance_score: float
    scorer: Callable[[np.ndarray, np.ndarray], float]

    def score(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """The task metric."""
        return self.scorer(logits, labels)


def _accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Sequence accuracy."""
    return float(accuracy_score(labels, logits.argmax(-1)))


def _token_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy over labelled tokens."""
    mask = labels != -100
    return float(accuracy_score(labels[mask], logits.argmax(-1)[mask]))


def _pearson(logits: np.ndarray, labels: np.ndarray) -> float:
    """Pearson correlation of predictions and targets."""
    return float(pearsonr(logits.reshape(-1), labels.reshape(-1))[0])


def keyword_task(kind: str = "classification", n_train: int = 240, n_eval: int = 60) -> SyntheticTask:
    """A learnable task: does the keyword appear (classification), how many (regression), where (tokens)."""
    from transformers import DataCollatorForTokenClassification, DataCollatorWithPadding

    tokenizer = tiny_tokenizer()

    def build(rows: list[list[str]]) -> Dataset:
        if kind == "token-classification":
            enc = tokenizer(rows, is_split_into_words=True, truncation=True, max_length=32)
            labels = []
            for i, words in enumerate(rows):
                ids = enc.word_ids(i)
                labels.append([-100 if w is None else int(words[w] == KEYWORD) for w in ids])
            return Dataset.from_dict({**enc, "labels": labels})
        enc = tokenizer([" ".join(r) for r in rows], truncation=True, max_length=32)
        if kind == "regression":
            targets: list[Any] = [float(r.count(KEYWORD)) + 0.5 * float(r[0] == "w1") for r in rows]
        else:
            targets = [int(KEYWORD in r) for r in rows]
        return Dataset.from_dict({**enc, "labels": targets})

    train, dev = build(sentences(n_train, 1)), build(sentences(n_eval, 2))
    half = n_eval // 2
    selection, report = dev.select(range(half)), dev.select(range(half, n_eval))
    if kind == "token-classification":
        return SyntheticTask(
            kind,
            "token_accuracy",
            2,
            ["O", "KEY"],
            train,
            selection,
            report,
            DataCollatorForTokenClassification(tokenizer),
            0.9,
            _token_accuracy,
        )
    if kind == "regression":
        return SyntheticTask(
            kind,
            "pearson",
            1,
            None,
            train,
            selection,
            report,
            DataCollatorWithPadding(tokenizer),
            0.0,
            _pearson,
        )
    return SyntheticTask(
        kind,
        "accuracy",
        2,
        ["no", "yes"],
        train,
        selection,
        report,
        DataCollatorWithPadding(tokenizer),
        0.5,
        _accuracy,
    )


def write_task_files(root: Path, kind: str = "classification", n_train: int = 240, n_eval: int = 60) -> Any:
    """Write the keyword task as local files (CSV, or JSON Lines for tokens) and return its TaskSpec."""
    import json

    import pandas as pd

    from worker.pruning.types import TaskSpec

    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, rows in (("train", sentences(n_train, 1)), ("dev", sentences(n_eval, 2))):
        if kind == "token-classification":
            path = root / f"{name}.jsonl"
            lines = [{"tokens": r, "tags": ["KEY" if w == KEYWORD else "O" for w in r]} for r in rows]
            path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        else:
            path = root / f"{name}.csv"
            if kind == "regression":
                labels: list[Any] = [r.count(KEYWORD) + 0.5 * (r[0] == "w1") for r in rows]
            else:
                labels = ["yes" if KEYWORD in r else "no" for r in rows]
            pd.DataFrame({"text": [" ".join(r) for r in rows], "label": labels}).to_csv(path, index=False)
        paths.append(path)
    text_fields = ("tokens",) if kind == "token-classification" else ("text",)
    label_field = "tags" if kind == "token-classification" else "label"
    return TaskSpec(
        type=kind,  # type: ignore[arg-type]
        train_file=paths[0],
        validation_file=paths[1],
        text_fields=text_fields,
        label_field=label_field,
    )


def timeless(rounds: tuple[RoundRecord, ...]) -> list[RoundRecord]:
    """Rounds with their timings zeroed, for comparing runs."""
    return [
        dataclasses.replace(
            r, seconds=0.0, candidates=tuple(dataclasses.replace(c, seconds=0.0) for c in r.candidates)
        )
        for r in rounds
    ]


def custom_task_args(spec: Any) -> list[str]:
    """CLI flags describing a custom task."""
    return [
        "--train-file",
        str(spec.train_file),
        "--validation-file",
        str(spec.validation_file),
        "--text-field",
        "text",
        "--label-field",
        "label",
        "--type",
        "classification",
    ]
