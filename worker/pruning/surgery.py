"""Model surgery: load an encoder with a fresh head, find its layer list and delete layers physically."""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from worker.pruning.errors import ModelError
from worker.pruning.types import InputLimits, TaskType

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel

# DistilBERT calls its feed-forward width `hidden_dim`.
_INTERMEDIATE_NAMES = ("intermediate_size", "hidden_dim")


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


def _must_be_loaded(name: str, base_prefix: str) -> bool:
    """Whether a weight belongs to the pretrained encoder, which must never start from random.

    Only the task head (outside the base model) and the pooler, which encoders pretrained without a
    sentence objective lack, may be initialised fresh.
    """
    return name.startswith(f"{base_prefix}.") and ".pooler." not in name


def _check_limits(config: PretrainedConfig, limits: InputLimits) -> None:
    """Refuse a config whose sizes exceed `limits`, before anything of that size exists."""
    intermediate = next((n for n in _INTERMEDIATE_NAMES if getattr(config, n, None) is not None), None)
    bounds = (
        ("vocab_size", limits.max_vocab_size),
        ("hidden_size", limits.max_hidden_size),
        ("max_position_embeddings", limits.max_position_embeddings),
        (intermediate, limits.max_intermediate_size),
    )
    values = [(name, getattr(config, name, None), bound) for name, bound in bounds if name]
    values.append(("number of layers", layer_count(config), limits.max_layers))
    for name, value, bound in values:
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ModelError(f"the model config's {name} must be a positive integer, got {value!r}")
        if bound is not None and value > bound:
            raise ModelError(f"the model config's {name} is {value}, above this server's limit of {bound}")


def read_config(path: str, limits: InputLimits | None = None, **overrides: Any) -> PretrainedConfig:
    """The model's config, refused when it asks for its own code or for sizes beyond `limits`."""
    from transformers import AutoConfig, PretrainedConfig

    try:
        raw, _ = PretrainedConfig.get_config_dict(path)
        if "auto_map" in raw:
            raise ModelError("the model config has an `auto_map` (custom code), which is never run")
        config = AutoConfig.from_pretrained(path, trust_remote_code=False, **overrides)
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot read the config of model {path}: {exc}") from exc
    _check_limits(config, limits or InputLimits())
    return config


def _stored_weights(directory: Path) -> int:
    """How many numbers the directory's .safetensors files hold, read from their headers only."""
    from safetensors import SafetensorError, safe_open

    total = 0
    for file in sorted(directory.glob("*.safetensors")):
        try:
            with safe_open(str(file), "pt") as handle:
                names = handle.keys()  # a safe_open handle is not iterable itself
                total += sum(math.prod(handle.get_slice(name).get_shape()) for name in names)
        except SafetensorError as exc:
            raise ModelError(f"the model's .safetensors weights cannot be read: {exc}") from exc
    return total


def _check_weights_present(path: str, model_class: Any, config: PretrainedConfig) -> None:
    """Refuse weights too few for the encoder the config describes, sized on the meta device (no memory)."""
    directory = Path(path)
    if not directory.is_dir():
        return  # a hub id given to `secateur prune`: transformers downloads it; the load check still runs
    try:
        with torch.device("meta"):
            skeleton = model_class.from_config(config)
    except (ValueError, KeyError) as exc:  # e.g. a hidden size the heads do not divide
        raise ModelError(f"cannot build model {path} from its config: {exc}") from exc
    prefix = skeleton.base_model_prefix
    needed = sum(p.numel() for n, p in skeleton.named_parameters() if _must_be_loaded(n, prefix))
    stored = _stored_weights(directory)
    if stored < needed:
        raise ModelError(
            f"the model config describes an encoder of {needed:,} weights, but its .safetensors files "
            f"hold only {stored:,}; only the task head may be missing"
        )


def _check_loaded(model: PreTrainedModel, info: dict[str, Any]) -> None:
    """Refuse a model where any encoder weight was missing or of another shape (so initialised at random)."""
    prefix = model.base_model_prefix
    missing = sorted(k for k in info.get("missing_keys", ()) if _must_be_loaded(k, prefix))
    mismatched = sorted(k[0] for k in info.get("mismatched_keys", ()) if _must_be_loaded(k[0], prefix))
    if missing or mismatched:
        names = ", ".join((missing + mismatched)[:5])
        raise ModelError(
            f"the model's weights do not match its config ({len(missing) + len(mismatched)} encoder "
            f"weights missing or of another shape, e.g. {names}); only the task head may be missing"
        )


def load_model(
    path: str,
    task_type: TaskType,
    num_labels: int,
    *,
    label_names: list[str] | None = None,
    seed: int = 0,
    limits: InputLimits | None = None,
) -> PreTrainedModel:
    """Load a pretrained encoder with a fresh, seeded task head (safetensors only, no remote code).

    The config is checked against `limits` and the weights counted before anything is allocated, and
    every encoder weight must come from the checkpoint.
    """
    check_safetensors(path)
    overrides: dict[str, Any] = {"num_labels": num_labels}
    if task_type == "regression":
        overrides["problem_type"] = "regression"
    elif task_type == "classification":
        overrides["problem_type"] = "single_label_classification"
    if label_names:
        overrides["id2label"] = dict(enumerate(label_names))
        overrides["label2id"] = {name: i for i, name in enumerate(label_names)}
    model_class = auto_class(task_type)
    config = read_config(path, limits, **overrides)
    _check_weights_present(path, model_class, config)
    # The head's initialisation draws from the global generator: seeding here makes it reproducible,
    # which is what lets a resumed run rebuild the same pristine model.
    torch.manual_seed(seed)
    from safetensors import SafetensorError

    try:
        model, info = model_class.from_pretrained(
            path,
            config=config,
            use_safetensors=True,
            trust_remote_code=False,
            output_loading_info=True,
            # A fine-tuned checkpoint's head may have another label count; encoder mismatches are refused.
            ignore_mismatched_sizes=True,
        )
    except SafetensorError as exc:
        raise ModelError(f"the model's .safetensors weights cannot be read: {exc}") from exc
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load model {path}: {exc}") from exc
    _check_loaded(model, info)
    find_layer_list(model)  # fail early on architectures we cannot prune
    return model


def load_saved_model(path: Path, task_type: TaskType) -> PreTrainedModel:
    """Reload a model this engine saved (already pruned, head included)."""
    return auto_class(task_type).from_pretrained(str(path), use_safetensors=True, trust_remote_code=False)
