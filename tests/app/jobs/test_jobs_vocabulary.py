"""The API's request schema says what the kernel's vocabulary says: defaults, bounds and allowed words."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from secateur.kernel.hyperparameters import KNOBS, Hyperparameters, Knob
from secateur.kernel.jobs.schemas import BuiltinTask, HyperparametersIn
from secateur.kernel.vocabulary import (
    BASELINE_MODES,
    BUILTIN_TASKS,
    DEFAULT_BASELINE,
    DEFAULT_STRATEGY,
    MAX_LAYERS,
    STRATEGIES,
    TASK_ALIASES,
    TASK_TYPES,
)

API_DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"


@pytest.fixture
def components(client: TestClient) -> dict[str, Any]:
    """The request schemas of the served OpenAPI document."""
    return client.get("/openapi.json").json()["components"]["schemas"]


def _numeric(prop: dict[str, Any]) -> dict[str, Any]:
    """The numeric branch of a property (`anyOf [number, null]` for an optional one)."""
    return next(b for b in prop.get("anyOf", [prop]) if b.get("type") in ("integer", "number"))


def test_every_hyperparameter_is_the_kernels(components: dict[str, Any]) -> None:
    """Same names, types, defaults, bounds and descriptions; optional knobs are nullable."""
    props = components["HyperparametersIn"]["properties"]
    assert set(props) == set(KNOBS)
    for name, knob in KNOBS.items():
        prop, numeric = props[name], _numeric(props[name])
        assert prop.get("default") == knob.default, name  # a null default is left out
        assert prop["description"] == knob.doc, name
        assert numeric["type"] == ("integer" if knob.type is int else "number"), name
        low = "exclusiveMinimum" if knob.exclusive_minimum else "minimum"
        assert numeric[low] == knob.minimum, name
        assert numeric.get("maximum") == knob.maximum, name
        assert ({"type": "null"} in prop.get("anyOf", [])) == knob.optional, name


def test_the_engine_and_the_api_default_alike() -> None:
    """An empty hyperparameters object is the engine's default budget."""
    assert Hyperparameters(**HyperparametersIn().model_dump()) == Hyperparameters()


def _probes(knob: Knob) -> list[Any]:
    """Values at and just past each bound, a mistyped one, a bool and null."""
    values: list[Any] = [knob.minimum, knob.minimum - 1, None, True, "1"]
    if knob.maximum is not None:
        values += [knob.maximum, knob.maximum + 1]
    values.append(float(knob.minimum) + 1 if knob.type is int else int(knob.minimum) + 1)
    if knob.exclusive_minimum:
        values.append(knob.minimum + 1e-9)
    return values


@pytest.mark.parametrize("name", list(KNOBS))
def test_the_api_accepts_what_the_engine_accepts(name: str) -> None:
    """At every bound, the API's validation and the kernel's check (the engine's) agree."""
    knob = KNOBS[name]
    for value in _probes(knob):
        try:
            HyperparametersIn.model_validate({name: value})
            api_accepts = True
        except ValidationError:
            api_accepts = False
        assert api_accepts == knob.accepts(value), (name, value)


def test_out_of_range_names_the_field(
    client: TestClient, caller: Any, job_body: Callable[..., dict[str, Any]]
) -> None:
    """A max_length below the kernel's minimum is a 422 naming `hyperparameters.max_length`."""
    too_short = KNOBS["max_length"].minimum - 1
    response = client.post(
        "/v1/jobs", headers=caller.headers, json=job_body(hyperparameters={"max_length": too_short})
    )
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "hyperparameters.max_length"


def test_words_are_the_vocabularys(components: dict[str, Any]) -> None:
    """Strategies, baseline modes, task types and their defaults come from the vocabulary."""
    job = components["JobCreate"]["properties"]
    assert job["strategy"]["enum"] == list(STRATEGIES)
    assert job["strategy"]["default"] == DEFAULT_STRATEGY
    assert job["baseline"]["enum"] == list(BASELINE_MODES)
    assert job["baseline"]["default"] == DEFAULT_BASELINE
    assert components["CustomTask"]["properties"]["type"]["enum"] == list(TASK_TYPES)
    assert _numeric(job["target_layers"])["maximum"] == MAX_LAYERS
    assert _numeric(job["layers"])["maximum"] == MAX_LAYERS
    assert job["protected_layers"]["items"]["maximum"] == MAX_LAYERS - 1


def test_every_task_name_and_alias_is_accepted() -> None:
    """Each built-in name and alias maps to its canonical name; anything else names the known tasks."""
    for name in BUILTIN_TASKS:
        assert BuiltinTask(name=name.upper()).name == name
    for alias, canonical in TASK_ALIASES.items():
        assert BuiltinTask(name=alias).name == canonical
    with pytest.raises(ValidationError, match="unknown task 'squad'; known tasks: sst2, cola"):
        BuiltinTask(name="squad")


def _as_documented(knob: Knob) -> str:
    """How docs/api.md writes a knob: `name` range (default)."""
    if knob.maximum is None:
        span = f"{'>' if knob.exclusive_minimum else '≥'} {knob.minimum}"
    elif knob.exclusive_minimum:
        span = f"> {knob.minimum}, ≤ {knob.maximum}"
    else:
        span = f"{knob.minimum}\N{EN DASH}{knob.maximum}"
    span = f"null or {span}" if knob.optional else span
    default = "" if knob.default is None else f" ({knob.default}"
    return f"`{knob.name}` {span}{default}"


def test_the_api_docs_state_the_kernels_ranges() -> None:
    """docs/api.md's hyperparameter row has every knob's range and default as the kernel defines them."""
    row = next(line for line in API_DOC.read_text().splitlines() if line.startswith("| `hyperparameters` |"))
    for knob in KNOBS.values():
        assert _as_documented(knob) in row, _as_documented(knob)
