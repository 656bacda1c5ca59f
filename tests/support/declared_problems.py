"""Check every problem a test receives against what its route declares in the OpenAPI document."""

from __future__ import annotations

import re
from typing import Any

import httpx2 as httpx  # what starlette.testclient returns
from fastapi import FastAPI

PROBLEM_MEDIA_TYPE = "application/problem+json"
# Each test builds its own app; the document only changes with the routes, so build it once per route set.
_DOCUMENTS: dict[tuple[tuple[str, tuple[str, ...]], ...], dict[str, Any]] = {}


def _paths(app: FastAPI) -> dict[str, Any]:
    """The `paths` of the app's OpenAPI document, shared by every app with the same routes."""
    routes = tuple(
        (getattr(r, "path", ""), tuple(sorted(getattr(r, "methods", None) or ()))) for r in app.routes
    )
    if routes not in _DOCUMENTS:
        _DOCUMENTS[routes] = app.openapi()["paths"]
    return _DOCUMENTS[routes]


class DeclaredProblems:
    """A response hook: a 4xx/5xx from a documented route must be a status and `type` it declares."""

    def __init__(self, app: FastAPI) -> None:
        """Check the answers of `app`."""
        self.app = app

    def __call__(self, response: httpx.Response) -> None:
        """Fail the test when the route sent a problem its OpenAPI entry does not list."""
        # A 500 is a bug, never a promise: no route declares it, and tests provoke it on purpose.
        if response.status_code < 400 or response.status_code == 500:
            return
        method, template = response.request.method, self._template(response.request)
        # HEAD shares the GET handler and its documented answers.
        documented = "get" if method == "HEAD" else method.lower()
        operation = _paths(self.app).get(template or "", {}).get(documented)
        if operation is None:
            return  # an unknown route, or one kept out of the schema: nothing is promised
        where = f"{method} {template} answered {response.status_code}"
        declared = operation["responses"].get(str(response.status_code))
        assert declared is not None, f"{where}, a status its OpenAPI entry does not declare"
        if method == "HEAD":
            return
        response.read()
        kind = response.json()["type"]
        listed = declared["content"][PROBLEM_MEDIA_TYPE]["schema"]["properties"]["type"]["enum"]
        assert kind in listed, f"{where} with {kind}, which is not among the declared {listed}"

    def _template(self, request: httpx.Request) -> str | None:
        """The documented path template `request` fits; a literal segment wins over a parameter."""
        path = request.url.path
        fits = [t for t in _paths(self.app) if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", t), path)]
        return min(fits, key=lambda t: t.count("{"), default=None)
