"""The kernel's words on their own: the hyperparameter table, task names and hub ids."""

from __future__ import annotations

import dataclasses

import pytest

from secateur.kernel.hyperparameters import KNOBS, Hyperparameters, first_problem, problem
from secateur.kernel.vocabulary import FROM_PRETRAINED, STRATEGIES, canonical_task_name, is_hub_id


def test_the_table_is_the_dataclass() -> None:
    """One knob per field, typed by its annotation, with the field's default."""
    assert list(KNOBS) == [f.name for f in dataclasses.fields(Hyperparameters)]
    assert KNOBS["learning_rate"].type is float and KNOBS["epochs"].type is int
    assert KNOBS["max_train_examples"].optional and not KNOBS["shortlist"].optional
    defaults = Hyperparameters()
    assert all(getattr(defaults, name) == knob.default for name, knob in KNOBS.items())
    assert first_problem(defaults) is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("learning_rate", float("nan")),
        ("learning_rate", float("inf")),
        ("learning_rate", 10**400),
        ("learning_rate", 0),
        ("epochs", True),
        ("epochs", 3.0),
        ("epochs", "3"),
        ("shortlist", None),
        ("max_length", 7),
    ],
)
def test_mistyped_or_out_of_range_values_are_named(name: str, value: object) -> None:
    """Never a crash: a message naming the field, what it must be and what it got."""
    message = problem(name, value)
    assert message is not None and message.startswith(f"hyperparameter {name} must be ")
    assert message.endswith(f"got {value!r}")


def test_task_names_and_hub_ids() -> None:
    """Aliases in any case map to one name; an unknown one lists the known; hub ids never read as paths."""
    assert canonical_task_name(" SST-2 ") == "sst2" and canonical_task_name("pos") == "conll2003-pos"
    with pytest.raises(ValueError, match="unknown task 'squad'; known tasks: sst2, cola"):
        canonical_task_name("squad")
    assert is_hub_id("org/name") and is_hub_id("bert-base-uncased")
    assert not any(is_hub_id(bad) for bad in ("org/../x", "/abs", "a/b/c", "name\n", "-x", ""))
    assert set(FROM_PRETRAINED) < set(STRATEGIES)
