"""The problem kinds: one registry, the error table of docs/api.md printed from it, the wire format kept."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.problems import (
    KINDS,
    Conflict,
    FileTooLarge,
    IdempotencyKeyReused,
    InvalidField,
    InvalidHeader,
    NotFound,
    ProblemError,
    Unauthorized,
)
from app.core.problems_table import problems_table

ROOT = Path(__file__).resolve().parents[3]
_TABLE = re.compile(r"<!-- problems:start[^>]*-->\n(.*?)<!-- problems:end -->", re.DOTALL)


def test_docs_api_md_holds_exactly_the_printed_table() -> None:
    """docs/api.md's error table is what `python -m app.core.problems_table` prints; rerun it on a change."""
    found = _TABLE.search((ROOT / "docs/api.md").read_text())
    assert found is not None, "docs/api.md lost its <!-- problems:start --> ... <!-- problems:end --> block"
    printed = subprocess.run(
        [sys.executable, "-m", "app.core.problems_table"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert printed == problems_table()
    assert found.group(1) == printed, "docs/api.md is stale: paste `python -m app.core.problems_table`"


def test_the_table_has_one_row_per_kind_with_its_status_slug_and_title() -> None:
    """Each row reads back as a registered kind's (status, slug, title), in the registry's order by status."""
    rows = [line.split(" | ") for line in problems_table().splitlines()[2:]]
    parsed = [(int(row[0].lstrip("| ")), row[1].strip("`"), row[2]) for row in rows]
    expected = [(k.status, k.slug, k.title) for k in sorted(KINDS, key=lambda k: k.status)]
    assert parsed == expected
    assert len({(status, slug) for status, slug, _ in parsed}) == len(KINDS)
    assert all(kind.__doc__ and kind.__doc__.strip() for kind in KINDS)


def test_a_family_cannot_be_raised_only_its_kinds() -> None:
    """Conflict is a family (409 without a slug); raising it would send an undeclared `about:blank`."""
    with pytest.raises(TypeError, match="raise one of its kinds"):
        Conflict("no")
    with pytest.raises(TypeError, match="raise one of its kinds"):
        ProblemError("no")


def _wire(problem: ProblemError) -> tuple[int, bytes, dict[str, str]]:
    """Status, body bytes and extra headers of a problem's response."""
    response = problem.response()
    headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
    assert response.headers["content-type"] == "application/problem+json"
    return response.status_code, bytes(response.body), headers


def _json(body: dict[str, object]) -> bytes:
    """The bytes Starlette's JSONResponse writes for `body`."""
    return json.dumps(body, ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")).encode()


def test_the_wire_format_is_the_one_clients_parse() -> None:
    """Members in RFC order, `errors` only when present, each kind's own headers."""
    assert _wire(NotFound("No job 'job_x'.")) == (
        404,
        _json(
            {
                "type": "urn:secateur:problem:not-found",
                "title": "Not Found",
                "status": 404,
                "detail": "No job 'job_x'.",
            }
        ),
        {},
    )
    assert _wire(Unauthorized("Send your key."))[2] == {"www-authenticate": "Bearer"}
    assert _wire(FileTooLarge("too big"))[2] == {"connection": "close"}
    field = {"field": "after", "message": "no job", "type": "value_error"}
    assert _wire(InvalidField("after", "no job"))[1] == _json(
        {
            "type": "urn:secateur:problem:validation-error",
            "title": "Request validation failed",
            "status": 422,
            "detail": "after: no job",
            "errors": [field],
        }
    )
    header = json.loads(_wire(InvalidHeader("Last-Event-ID", "expected an event id"))[1])
    assert (header["status"], header["type"]) == (400, "urn:secateur:problem:validation-error")
    assert json.loads(_wire(IdempotencyKeyReused("reused"))[1])["title"] == "Unprocessable Entity"
