"""Baseline "as-is": load a model already fine-tuned for the task, head included, and check it fits."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from worker.pruning.errors import ModelError
from worker.pruning.surgery import auto_class, check_safetensors, find_layer_list
from worker.pruning.types import RunWarning, TaskType

if TYPE_CHECKING:
    from transformers import PreTrainedModel

# The class-name endings of each task's head, as transformers writes them into config.architectures.
HEAD_SUFFIX = {
    "classification": "ForSequenceClassification",
    "regression": "ForSequenceClassification",
    "token-classification": "ForTokenClassification",
}
GENERIC_LABEL = re.compile(r"^LABEL_\d+$")


def _check_architecture(config: Any, task_type: TaskType) -> None:
    """Refuse a checkpoint whose saved head is for another kind of task (or has none)."""
    architectures = list(getattr(config, "architectures", None) or [])
    if architectures and not any(a.endswith(HEAD_SUFFIX[task_type]) for a in architectures):
        raise ModelError(
            f"baseline as-is needs a model fine-tuned for {task_type} (a *{HEAD_SUFFIX[task_type]} "
            f"checkpoint), but this one is {', '.join(architectures)}: it has no head for the task. "
            "Upload the fine-tuned model, or use baseline fine-tune to train a fresh head"
        )


def _model_labels(config: Any) -> list[str]:
    """The model's label names in id order."""
    id2label = {int(k): str(v) for k, v in (getattr(config, "id2label", None) or {}).items()}
    return [id2label.get(i, f"LABEL_{i}") for i in range(config.num_labels)]


def check_labels(config: Any, task_type: TaskType, label_names: list[str] | None) -> list[RunWarning]:
    """Refuse a head whose labels differ from the dataset's; warn when the model's labels are unnamed."""
    if task_type == "regression":
        if config.num_labels != 1:
            raise ModelError(
                f"baseline as-is on a regression task needs a model with one output, but this one has "
                f"{config.num_labels} labels ({_model_labels(config)})"
            )
        return []
    ours = list(label_names or [])
    theirs = _model_labels(config)
    if len(theirs) == len(ours) and all(GENERIC_LABEL.match(name) for name in theirs):
        # Names like LABEL_0 carry no meaning, so only the count can be checked.
        return [
            RunWarning(
                "labels_unchecked",
                f"the model's labels are unnamed ({theirs}); they are taken to mean the dataset's "
                f"{ours} in that order",
            )
        ]
    if theirs != ours:
        raise ModelError(
            f"the model's labels {theirs} (its id2label, in id order) do not match the dataset's labels "
            f"{ours}: baseline as-is needs the model fine-tuned on these labels in this order"
        )
    return []


def load_as_is(
    path: str, task_type: TaskType, label_names: list[str] | None
) -> tuple[PreTrainedModel, list[RunWarning]]:
    """The uploaded fine-tuned model with its own head, after checking the head fits the task."""
    check_safetensors(path)
    from safetensors import SafetensorError
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(path)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load model {path}: {exc}") from exc
    _check_architecture(config, task_type)
    warnings = check_labels(config, task_type, label_names)
    try:
        model, info = auto_class(task_type).from_pretrained(
            path, use_safetensors=True, output_loading_info=True
        )
    except SafetensorError as exc:
        raise ModelError(f"the model's .safetensors weights cannot be read: {exc}") from exc
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load model {path}: {exc}") from exc
    if info.get("missing_keys"):
        missing = sorted(info["missing_keys"])
        raise ModelError(
            f"baseline as-is needs the model's trained {task_type} head, but its weights lack "
            f"{', '.join(missing[:4])}{' …' if len(missing) > 4 else ''}: it has no head for the task. "
            "Upload the fine-tuned model, or use baseline fine-tune to train a fresh head"
        )
    if task_type == "regression":
        model.config.problem_type = "regression"
    find_layer_list(model)  # fail early on architectures we cannot prune
    return model, warnings
