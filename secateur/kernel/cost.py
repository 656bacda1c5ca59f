"""What a job can cost in fine-tunes and training examples, per strategy: the engine's budget, the dry run.

A fine-tune of `e` epochs on `n` examples processes exactly `e * n` training examples (the last batch
is kept), so these counts are exact for every round the engine plays, and the most a job can take is
the baseline plus every round down to `min_layers`.
"""

from __future__ import annotations

from dataclasses import dataclass

from secateur.kernel.hyperparameters import Hyperparameters

_DEFAULTS = Hyperparameters()


def layer_floor(min_layers: int, target_layers: int | None, protected: int) -> int:
    """The fewest layers a job may end with: min_layers, target_layers, and one per protected layer."""
    return max(min_layers, target_layers or 0, protected)


@dataclass(frozen=True)
class Plan:
    """The figures a job's cost depends on."""

    layers: int
    train_size: int  # training examples per epoch, after max_train_examples
    epochs: int = _DEFAULTS.epochs
    candidate_epochs: int = _DEFAULTS.candidate_epochs
    repurpose_epochs: int = _DEFAULTS.repurpose_epochs
    candidate_train_examples: int | None = _DEFAULTS.candidate_train_examples
    shortlist: int = _DEFAULTS.shortlist
    min_layers: int = 1
    baseline_epochs: int | None = None  # None: `epochs`; 0 when the model is used as it is

    @classmethod
    def of(
        cls,
        hp: Hyperparameters,
        *,
        layers: int,
        train_size: int,
        min_layers: int = 1,
        fine_tune_baseline: bool = True,
    ) -> Plan:
        """The plan of these hyperparameters on `layers` layers and `train_size` training examples."""
        return cls(
            layers=layers,
            train_size=train_size,
            epochs=hp.epochs,
            candidate_epochs=hp.candidate_epochs,
            repurpose_epochs=hp.repurpose_epochs,
            candidate_train_examples=hp.candidate_train_examples,
            shortlist=hp.shortlist,
            min_layers=min_layers,
            baseline_epochs=None if fine_tune_baseline else 0,
        )

    @property
    def candidate_size(self) -> int:
        """Examples per candidate epoch: the fixed sample when smaller than train, else all of train."""
        limit = self.candidate_train_examples
        return self.train_size if limit is None else min(limit, self.train_size)


@dataclass(frozen=True)
class Cost:
    """Fine-tunes and training examples."""

    fine_tunes: int = 0
    train_examples: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.fine_tunes + other.fine_tunes, self.train_examples + other.train_examples)


def _fine_tunes(count: int, epochs: int, size: int) -> Cost:
    """`count` fine-tunes of `epochs` epochs on `size` examples (a 0-epoch fine-tune is none)."""
    if count <= 0 or epochs <= 0 or size <= 0:
        return Cost()
    return Cost(count, count * epochs * size)


def baseline_cost(plan: Plan) -> Cost:
    """The full model's fine-tune (nothing when the model is taken as it is)."""
    epochs = plan.epochs if plan.baseline_epochs is None else plan.baseline_epochs
    return _fine_tunes(1, epochs, plan.train_size)


def candidates_cost(plan: Plan, count: int) -> Cost:
    """`count` candidate fine-tunes."""
    return _fine_tunes(count, plan.candidate_epochs, plan.candidate_size)


def repurpose_cost(plan: Plan) -> Cost:
    """AGLP's repurposing of a round's winner (nothing when it is kept as it is)."""
    return _fine_tunes(1, plan.repurpose_epochs, plan.train_size)


def round_cost(strategy: str, plan: Plan, layers_before: int) -> Cost:
    """What one round starting from `layers_before` layers fine-tunes (a shortlist round as planned)."""
    candidates = candidates_cost(plan, layers_before)
    repurpose = repurpose_cost(plan)
    if strategy == "aglp":
        return candidates + repurpose
    if strategy == "aglp-shortlist":
        return candidates_cost(plan, min(plan.shortlist, layers_before)) + repurpose
    if strategy == "glp":
        # The winner is reused as the round's model when it was trained like one (see glp_round).
        sampled = plan.candidate_size < plan.train_size
        final = plan.epochs != plan.candidate_epochs or sampled
        return candidates + (_fine_tunes(1, plan.epochs, plan.train_size) if final else Cost())
    if strategy == "top":
        return _fine_tunes(1, plan.epochs, plan.train_size)
    if strategy == "analyze":
        return Cost()
    raise ValueError(f"unknown strategy {strategy!r}")


def estimate(strategy: str, plan: Plan) -> Cost:
    """The most a job can take: the baseline and every round down to `min_layers`.

    A shortlist round that misses the threshold widens, up to every candidate; the estimate counts
    one such round, at full width, as the round a job stops at does. Each further widening costs up
    to that again, which only `max_train_examples_total` bounds.
    """
    total = baseline_cost(plan)
    for layers_before in range(plan.layers, plan.min_layers, -1):
        total = total + round_cost(strategy, plan, layers_before)
    if strategy == "aglp-shortlist" and plan.layers > plan.min_layers:
        total = total + candidates_cost(plan, max(plan.layers - plan.shortlist, 0))
    return total
