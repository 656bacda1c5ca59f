"""OpenAPI for problems: each route declares the kinds it raises, so /docs shows the bodies it sends."""

from typing import Any

from app.core.problems import PROBLEM_MEDIA_TYPE, Problem, ProblemError, kind_of, problem_type

PROBLEM_REF = "#/components/schemas/Problem"
# FastAPI adds a 422 with these schemas to every route with parameters; ours declare their own.
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def when(kind: type[ProblemError]) -> str:
    """What a registered kind means: its docstring, the one place it is written."""
    return " ".join((kind.__doc__ or "").split())


def problem_responses(*kinds: type[ProblemError]) -> dict[int | str, dict[str, Any]]:
    """A route's OpenAPI `responses` for the problem kinds it can raise, one entry per status."""
    by_status: dict[int, list[type[ProblemError]]] = {}
    for kind in kinds:
        if kind.slug is None:
            raise TypeError(f"{kind.__name__} is a family of problems; declare its kinds")
        registered = kind_of(kind.status, kind.slug)
        assert registered is not None  # every class with a slug registers its pair
        group = by_status.setdefault(kind.status, [])
        if registered not in group:
            group.append(registered)
    return {status: _response(status, group) for status, group in sorted(by_status.items())}


def _response(status: int, group: list[type[ProblemError]]) -> dict[str, Any]:
    """One status's response: the Problem schema narrowed to these kinds, with an example of each."""
    schema = {
        "allOf": [{"$ref": PROBLEM_REF}],
        "properties": {
            "type": {"enum": [problem_type(k.slug or "") for k in group]},
            "title": {"enum": list(dict.fromkeys(k.title for k in group))},
            "status": {"enum": [status]},
        },
    }
    examples = {
        k.slug: {
            "summary": when(k),
            "value": {
                "type": problem_type(k.slug or ""),
                "title": k.title,
                "status": status,
                "detail": when(k),
            },
        }
        for k in group
    }
    description = " ".join(f"`{k.slug}`: {when(k)}" for k in group)
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": schema, "examples": examples}},
    }


def file_problems(schema: dict[str, Any]) -> None:
    """Add the Problem schema the declarations point to; drop FastAPI's generic 422 where none is declared."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.get("responses", {})
            generic = responses.get("422", {}).get("content", {}).get("application/json")
            if generic is not None:
                del responses["422"]
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
