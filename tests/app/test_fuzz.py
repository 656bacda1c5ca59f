"""A short Schemathesis run over the OpenAPI schema, in-process: no 5xx, responses match the schema.

`make fuzz` runs the long version (over 1,000 cases) against a live server; this one keeps CI quick.
"""

from typing import Any

import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

EXAMPLES_PER_OPERATION = 8


def test_no_server_error_and_responses_match_the_schema(app: FastAPI, caller: Any) -> None:
    """Every generated request, authenticated, gets a non-5xx answer that its schema describes."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # the schema really was read

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def check(case: Any) -> None:
            """One generated request."""
            case.call_and_validate(
                headers=caller.headers, checks=[not_a_server_error, response_schema_conformance]
            )

        check()
