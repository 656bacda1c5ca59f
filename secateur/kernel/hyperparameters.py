"""The fine-tuning budget: each hyperparameter's type, default, bounds and meaning, defined once.

`Hyperparameters` is what the engine runs with; `KNOBS` is the same definition as a table, which the
API turns into its request schema and the engine checks requests against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Final, TypeVar, get_args, get_type_hints

T = TypeVar("T")


@dataclass(frozen=True)
class Knob:
    """One hyperparameter: its type, default, bounds and meaning; `optional` allows None (unset)."""

    name: str
    type: type[int] | type[float]
    default: int | float | None
    minimum: int | float
    maximum: int | float | None
    doc: str
    optional: bool = False
    exclusive_minimum: bool = False  # the value must exceed `minimum`

    def requirement(self) -> str:
        """What a value must be, e.g. `an integer >= 1 and <= 100`."""
        kind = "an integer" if self.type is int else "a finite number"
        low = f"> {self.minimum}" if self.exclusive_minimum else f">= {self.minimum}"
        span = low if self.maximum is None else f"{low} and <= {self.maximum}"
        return f"{kind} {span}" + (" or unset" if self.optional else "")

    def accepts(self, value: object) -> bool:
        """Whether `value` has the knob's type (a bool is no number) and lies within its bounds."""
        if value is None:
            return self.optional
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.type is int and not isinstance(value, int):
            return False
        if isinstance(value, float) and not math.isfinite(value):
            return False
        above = value > self.minimum if self.exclusive_minimum else value >= self.minimum
        return above and (self.maximum is None or value <= self.maximum)


def _knob(
    default: T,
    minimum: float,
    maximum: float | None,
    doc: str,
    *,
    exclusive_minimum: bool = False,
) -> T:
    """A dataclass field whose metadata carries the bounds and meaning `KNOBS` is built from."""
    spec = {"minimum": minimum, "maximum": maximum, "doc": doc, "exclusive_minimum": exclusive_minimum}
    return field(default=default, metadata=spec)


@dataclass(frozen=True)
class Hyperparameters:
    """The fine-tuning budget; the defaults are the paper authors'."""

    epochs: int = _knob(3, 1, 100, "Epochs of the baseline fine-tune (and of GLP's and top's final ones).")
    candidate_epochs: int = _knob(3, 1, 100, "Epochs each candidate is fine-tuned for.")
    repurpose_epochs: int = _knob(
        3, 0, 100, "Epochs of repurposing after each AGLP round; 0 keeps the winning candidate."
    )
    learning_rate: float = _knob(2e-5, 0, 1, "AdamW learning rate.", exclusive_minimum=True)
    weight_decay: float = _knob(0.01, 0, 1, "AdamW weight decay.")
    batch_size: int = _knob(16, 1, 1024, "Training batch size.")
    # Below 8 tokens a sentence pair keeps almost nothing of either sentence.
    max_length: int = _knob(256, 8, 4096, "Maximum tokens per example; longer ones are truncated.")
    seed: int = _knob(0, 0, 2**32 - 1, "Random seed of shuffling, sampling and head initialisation.")
    max_train_examples: int | None = _knob(
        None, 1, None, "Use at most this many training examples (a fixed sample); null: all of them."
    )
    eval_batch_size: int = _knob(64, 1, 4096, "Batch size when scoring.")
    # Every candidate is scored on the selection half, so a large dev set makes each round's scoring
    # cost more than its fine-tunes; the report half stays whole.
    max_selection_examples: int | None = _knob(
        None,
        1,
        None,
        "Score on at most this many examples of the selection half (a fixed sample); null: all of it.",
    )
    # Candidates only rank layers; the baseline and repurposing use the whole set.
    candidate_train_examples: int | None = _knob(
        None,
        1,
        None,
        "Fine-tune each candidate on a fixed sample of this many examples (cheaper rounds); "
        "null: the whole train set, as in the paper.",
    )
    shortlist: int = _knob(
        2,
        1,
        1000,
        "aglp-shortlist: candidates fine-tuned per round, the zero-shot best; a round they all miss "
        "widens by as many more.",
    )
    max_train_examples_total: int | None = _knob(
        None, 1, None, "Budget: a round that would pass this many training examples in all is not started."
    )


def _table() -> dict[str, Knob]:
    """`KNOBS`, read from the dataclass: the type from each field's annotation, the rest from its metadata."""
    hints = get_type_hints(Hyperparameters)
    table = {}
    for spec in fields(Hyperparameters):
        parts = get_args(hints[spec.name]) or (hints[spec.name],)
        table[spec.name] = Knob(
            name=spec.name,
            type=float if float in parts else int,
            default=spec.default,  # type: ignore[arg-type]
            minimum=spec.metadata["minimum"],
            maximum=spec.metadata["maximum"],
            doc=spec.metadata["doc"],
            optional=type(None) in parts,
            exclusive_minimum=spec.metadata["exclusive_minimum"],
        )
    return table


KNOBS: Final = MappingProxyType(_table())


def problem(name: str, value: Any) -> str | None:
    """Why `value` is no valid hyperparameter `name`, or None when it is."""
    knob = KNOBS[name]
    if knob.accepts(value):
        return None
    return f"hyperparameter {name} must be {knob.requirement()}, got {value!r}"


def first_problem(hp: Hyperparameters) -> str | None:
    """The first out-of-range or mistyped hyperparameter of `hp`, in field order, or None."""
    for name in KNOBS:
        found = problem(name, getattr(hp, name))
        if found:
            return found
    return None
