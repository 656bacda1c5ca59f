"""The request's layer constraints and baseline mode, checked before and once the model's depth is known."""

from __future__ import annotations

from secateur.kernel.cost import Plan, baseline_cost
from secateur.kernel.vocabulary import BASELINE_MODES, FROM_PRETRAINED
from worker.pruning.errors import ConfigError
from worker.pruning.types import PruneRequest


def _is_int(value: object) -> bool:
    """An int that is not a bool."""
    return isinstance(value, int) and not isinstance(value, bool)


def validate_constraints(request: PruneRequest) -> None:
    """Raise ConfigError for a bad baseline mode, protected layers, target_layers or latency_runs."""
    if request.baseline not in BASELINE_MODES:
        raise ConfigError(f"baseline must be one of {', '.join(BASELINE_MODES)}, got {request.baseline!r}")
    if request.baseline == "as-is" and request.strategy in FROM_PRETRAINED:
        raise ConfigError(
            f"baseline as-is cannot be used with strategy {request.strategy}: it fine-tunes every round "
            "from the pretrained weights, so a fine-tuned model has nothing to start from. Use aglp, or "
            "baseline fine-tune with a pretrained model"
        )
    protected = request.protected_layers
    if not all(_is_int(layer) and layer >= 0 for layer in protected):
        raise ConfigError(f"protected_layers must be layer indices >= 0, got {list(protected)!r}")
    if len(set(protected)) != len(protected):
        raise ConfigError(f"protected_layers lists a layer twice: {list(protected)!r}")
    target = request.target_layers
    if target is not None and (not _is_int(target) or target < 1):
        raise ConfigError(f"target_layers must be an integer >= 1 or unset, got {target!r}")
    if target is not None and target < len(protected):
        raise ConfigError(
            f"target_layers ({target}) is below the {len(protected)} protected layers, "
            "which are never removed"
        )
    if not _is_int(request.latency_runs) or request.latency_runs < 0:
        raise ConfigError(f"latency_runs must be an integer >= 0, got {request.latency_runs!r}")


def check_depth(request: PruneRequest, layers_total: int) -> None:
    """Raise ConfigError when the constraints do not fit a model of `layers_total` layers."""
    if request.min_layers >= layers_total:
        raise ConfigError(
            f"min_layers ({request.min_layers}) must be below the model's {layers_total} layers"
        )
    outside = sorted(layer for layer in request.protected_layers if layer >= layers_total)
    if outside:
        raise ConfigError(
            f"protected_layers {outside} are out of range: the model has {layers_total} layers, "
            f"numbered 0 to {layers_total - 1}"
        )
    if len(request.protected_layers) >= layers_total:
        raise ConfigError(f"protected_layers protect all {layers_total} layers: nothing is left to prune")
    target = request.target_layers
    if target is not None and target >= layers_total:
        raise ConfigError(
            f"target_layers ({target}) must be below the model's {layers_total} layers, or nothing is pruned"
        )


def check_plan(request: PruneRequest, plan: Plan) -> None:
    """Checks that need the model's depth and the train size: the shortlist and the budget."""
    hp = request.hyperparameters
    if request.strategy == "aglp-shortlist" and hp.shortlist > plan.layers:
        raise ConfigError(
            f"hyperparameter shortlist ({hp.shortlist}) exceeds the model's {plan.layers} layers"
        )
    need = baseline_cost(plan).train_examples
    if hp.max_train_examples_total is not None and need > hp.max_train_examples_total:
        raise ConfigError(
            f"hyperparameter max_train_examples_total ({hp.max_train_examples_total}) is below the baseline "
            f"fine-tune alone ({need} training examples)"
        )
