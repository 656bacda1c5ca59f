"""Model surgery: load an encoder with a fresh head, find its layer list and delete layers physically."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from worker.pruning.errors import ModelError
from worker.pruning.types import TaskType

if TYPE_CHECKING:
    from transformers import PreTrainedModel


def layer_count(config: Any) -> int:
    """The config's layer count, read through its attribute map (DistilBERT calls it `n_layers`)."""
    name = getattr(config, "attribute_map", {}).get("num_hidden_layers", "num_hidden_layers")
    value = getattr(config, name, None)
    if not isinstance(value, int) or value < 1:
        raise ModelError(f"the model config has no usable layer count (looked for `{name}`)")
    return value


def _set_layer_count(config: Any, count: int) -> None:
    """Write the layer count under the config's own attribute name."""
    name = getattr(config, "attribute_map", {}).get("num_hidden_layers", "num_hidden_layers")
    setattr(config, name, count)


def find_layer_list(model: nn.Module) -> tuple[nn.Module, str, nn.ModuleList]:
    """Return (parent module, attribute name, ModuleList) of the encoder's layers.

    The list is the ModuleList whose length equals the config's layer count; where several match,
    the one holding the most parameters wins (embedding-side lists are small).
    """
    expected = layer_count(model.config)
    matches: list[tuple[int, str, nn.ModuleList]] = []
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == expected and name:
            size = sum(p.numel() for p in module.parameters())
            matches.append((size, name, module))
    if not matches:
        raise ModelError(
            f"no nn.ModuleList with {expected} layers found in {type(model).__name__}; "
            "only encoders whose layers sit in an nn.ModuleList can be pruned"
        )
    _, name, layers = max(matches, key=lambda m: m[0])
    parent_name, _, attr = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    return parent, attr, layers


def _renumber(layer: nn.Module, position: int) -> None:
    """Point every per-layer index inside `layer` (e.g. attention `layer_idx`) at its new position."""
    for module in layer.modules():
        for attr in ("layer_idx", "layer_id", "layer_index"):
            if isinstance(getattr(module, attr, None), int):
                setattr(module, attr, position)


def _trim_per_layer_lists(config: Any, keep: list[int], old_count: int) -> None:
    """Cut per-layer config lists (names mentioning `layer`, one entry per layer) to the kept layers."""
    for key, value in list(vars(config).items()):
        if "layer" in key and isinstance(value, list | tuple) and len(value) == old_count:
            setattr(config, key, type(value)(value[i] for i in keep))


def remove_layers(model: PreTrainedModel, positions: list[int] | tuple[int, ...]) -> None:
    """Delete the layers at the given current positions in place and update the config."""
    parent, attr, layers = find_layer_list(model)
    old_count = len(layers)
    doomed = set(positions)
    if not doomed:
        return
    if any(p < 0 or p >= old_count for p in doomed):
        raise ModelError(f"layer positions {sorted(doomed)} out of range for {old_count} layers")
    if len(doomed) >= old_count:
        raise ModelError("cannot remove every layer of the model")
    keep = [i for i in range(old_count) if i not in doomed]
    new_layers = nn.ModuleList([layers[i] for i in keep])
    for position, layer in enumerate(new_layers):
        _renumber(layer, position)
    setattr(parent, attr, new_layers)
    _set_layer_count(model.config, len(keep))
    _trim_per_layer_lists(model.config, keep, old_count)


def without_layers(model: PreTrainedModel, positions: list[int] | tuple[int, ...]) -> PreTrainedModel:
    """A deep copy of `model` with the layers at `positions` removed; the original is untouched."""
    clone = copy.deepcopy(model)
    remove_layers(clone, positions)
    return clone


def count_parameters(model: nn.Module) -> int:
    """Number of distinct parameters (tied weights counted once)."""
    return sum(p.numel() for p in model.parameters())


def auto_class(task_type: TaskType) -> Any:
    """The AutoModel class for a task type."""
    from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

    if task_type == "token-classification":
        return AutoModelForTokenClassification
    return AutoModelForSequenceClassification


def check_safetensors(path: str) -> None:
    """Refuse local model directories without safetensors weights (pickles execute code on load)."""
    directory = Path(path)
    if directory.exists():
        if not directory.is_dir():
            raise ModelError(f"model path {path} is not a directory")
        if not any(directory.glob("*.safetensors")):
            raise ModelError(
                f"model directory {path} has no .safetensors weights; pickled weights are refused"
            )


def load_model(
    path: str,
    task_type: TaskType,
    num_labels: int,
    label_names: list[str] | None = None,
    seed: int = 0,
) -> PreTrainedModel:
    """Load a pretrained encoder with a fresh, seeded task head (safetensors only, no remote code)."""
    check_safetensors(path)
    kwargs: dict[str, Any] = {"num_labels": num_labels, "use_safetensors": True}
    if task_type == "regression":
        kwargs["problem_type"] = "regression"
    elif task_type == "classification":
        kwargs["problem_type"] = "single_label_classification"
    if label_names:
        kwargs["id2label"] = dict(enumerate(label_names))
        kwargs["label2id"] = {name: i for i, name in enumerate(label_names)}
    # The head's initialisation draws from the global generator: seeding here makes it reproducible,
    # which is what lets a resumed run rebuild the same pristine model.
    torch.manual_seed(seed)
    from safetensors import SafetensorError

    try:
        model = auto_class(task_type).from_pretrained(path, **kwargs)
    except SafetensorError as exc:
        raise ModelError(f"the model's .safetensors weights cannot be read: {exc}") from exc
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load model {path}: {exc}") from exc
    find_layer_list(model)  # fail early on architectures we cannot prune
    return model


def load_checkpoint(path: Path, task_type: TaskType) -> PreTrainedModel:
    """Reload a model this engine saved (already pruned, head included)."""
    return auto_class(task_type).from_pretrained(str(path), use_safetensors=True)
