"""The client on a mock transport: retries, idempotent submits, the resumed SSE stream; and its imports."""

import json
from collections.abc import Callable

import httpx
import pytest

from app.client import ApiError, SecateurClient

JOB_LIST = {"object": "list", "data": [], "has_more": False}
Handler = Callable[[httpx.Request], httpx.Response]
JOB = {
    "id": "job_1", "status": "running", "model": "m", "task": {"name": "rte"}, "strategy": "aglp",
    "retention": 0.9, "hyperparameters": {}, "metadata": {}, "created_at": "2026-01-01T00:00:00Z",
    "started_at": None, "finished_at": None, "result": None, "error": None,
    "progress": dict.fromkeys(
        ("layers_total", "layers_remaining", "baseline_score", "current_score", "retained_fraction"), None
    ) | {"round": 0},
    "urls": dict.fromkeys(("self", "rounds", "events", "cancel", "artifact", "artifacts"), "/v1/jobs/job_1"),
    "baseline": "fine-tune", "allow_weak_baseline": False, "protected_layers": [], "target_layers": None,
    "keep_depths": False, "warnings": [],
}  # fmt: skip


def scripted(*answers: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    """A transport handler that plays `answers` in order and records each request."""
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers[len(seen) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handle, seen


def client_for(handler: Handler, sleeps: list[float]) -> SecateurClient:
    """A client on a mock transport that records its sleeps instead of sleeping."""
    http = httpx.Client(base_url="http://api.test", transport=httpx.MockTransport(handler))
    return SecateurClient(api_key="sk-sec-test", http=http, sleep=sleeps.append, max_retries=3)


def test_reads_retry_connection_errors_and_gateway_errors() -> None:
    """A refused connection and a 503 are retried with growing pauses; the third answer is used."""
    handler, seen = scripted(
        httpx.ConnectError("refused"), httpx.Response(503), httpx.Response(200, json=JOB_LIST)
    )
    sleeps: list[float] = []
    assert client_for(handler, sleeps).jobs.list().data == []
    assert len(seen) == 3 and len(sleeps) == 2 and all(s > 0 for s in sleeps)
    assert seen[0].headers["authorization"] == "Bearer sk-sec-test"


def test_429_waits_as_long_as_retry_after_says() -> None:
    """Too Many Requests with Retry-After is retried after that long; without it, it is final."""
    handler, _ = scripted(
        httpx.Response(429, headers={"Retry-After": "3"}), httpx.Response(200, json=JOB_LIST)
    )
    sleeps: list[float] = []
    client_for(handler, sleeps).jobs.list()
    assert sleeps == [3.0]
    handler, seen = scripted(httpx.Response(429, json={"title": "Too Many Requests", "status": 429}))
    with pytest.raises(ApiError) as limited:
        client_for(handler, []).jobs.list()
    assert limited.value.status == 429 and len(seen) == 1


def test_a_retried_submit_reuses_its_idempotency_key() -> None:
    """Every attempt of one submit carries the same Idempotency-Key, so the server never makes two jobs."""
    handler, seen = scripted(httpx.ReadTimeout("slow"), httpx.Response(502), httpx.Response(201, json=JOB))
    submitted = client_for(handler, []).jobs.submit({"model": "m", "task": {"name": "rte"}, "retention": 0.9})
    assert submitted.id == "job_1"
    keys = {request.headers["idempotency-key"] for request in seen}
    assert len(seen) == 3 and len(keys) == 1
    assert json.loads(seen[2].content)["retention"] == 0.9


def test_cancel_is_not_retried_and_an_unreachable_api_is_one_error() -> None:
    """A POST other than submit fails on the first 503; a dead API becomes ApiError `unreachable`."""
    handler, seen = scripted(httpx.Response(503, text="<html>Service Unavailable</html>"))
    with pytest.raises(ApiError) as unavailable:
        client_for(handler, []).jobs.cancel("job_1")
    assert (
        len(seen) == 1
        and unavailable.value.status == 503
        and "Service Unavailable" in unavailable.value.detail
    )
    handler, seen = scripted(*[httpx.ConnectError("refused")] * 4)
    with pytest.raises(ApiError) as unreachable:
        client_for(handler, []).jobs.get("job_1")
    assert unreachable.value.code == "unreachable" and unreachable.value.status is None and len(seen) == 4


def sse(*lines: str) -> httpx.Response:
    """A text/event-stream answer with these lines."""
    body = "".join(f"{line}\n" for line in lines)
    return httpx.Response(200, headers={"Content-Type": "text/event-stream"}, content=body.encode())


def event_json(n: int, type_: str) -> str:
    """One event object as the stream sends it."""
    return json.dumps(
        {"id": n, "type": type_, "message": "", "data": {}, "created_at": "2026-01-01T00:00:00Z"}
    )


def test_the_stream_skips_keep_alives_and_resumes_where_it_dropped() -> None:
    """A stream that ends early is reopened with Last-Event-ID; ping comments are not events."""
    first = sse("id: 1", f"data: {event_json(1, 'job.started')}", "", ": ping", "")
    second = sse(": ping", "", "id: 2", f"data: {event_json(2, 'job.succeeded')}", "")
    handler, seen = scripted(first, httpx.Response(200, json=JOB), second)  # the job is still running
    sleeps: list[float] = []
    events = list(client_for(handler, sleeps).jobs.stream("job_1"))
    assert [e.type for e in events] == ["job.started", "job.succeeded"]
    streams = [r for r in seen if r.headers.get("accept") == "text/event-stream"]
    assert [r.headers["last-event-id"] for r in streams] == ["0", "1"] and len(sleeps) == 1
    assert seen[0].headers["accept"] == "text/event-stream"


def test_the_client_imports_neither_torch_nor_the_server_stack() -> None:
    """A fresh interpreter: importing the client loads no torch, SQLAlchemy or FastAPI."""
    import subprocess
    import sys

    probe = "import sys, app.client; print(sorted({'torch', 'sqlalchemy', 'fastapi'} & set(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr
