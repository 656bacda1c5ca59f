"""Jobs: submit, list, read, cancel, rounds, events (pages and the live stream), wait and download."""

import builtins
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from httpx_sse import EventSource

from app.client.artifacts import download_artifact
from app.client.errors import ApiError
from app.client.models import (
    TERMINAL_STATUSES,
    Download,
    EventList,
    EventOut,
    JobCreate,
    JobList,
    JobOut,
    RoundList,
    RoundOut,
)
from app.client.pages import every
from secateur.kernel.vocabulary import TERMINAL_EVENTS

if TYPE_CHECKING:
    from app.client.client import SecateurClient


class Jobs:
    """`/v1/jobs`."""

    def __init__(self, client: "SecateurClient") -> None:
        self._client = client

    def submit(self, body: JobCreate | Mapping[str, Any], idempotency_key: str | None = None) -> JobOut:
        """Submit a job; retried safely, since every attempt carries the same Idempotency-Key."""
        payload = body.model_dump(mode="json", exclude_unset=True) if isinstance(body, JobCreate) else body
        headers = {"Idempotency-Key": idempotency_key or f"client-{uuid.uuid4().hex}"}
        answer = self._client.json("POST", "/v1/jobs", json=dict(payload), headers=headers, retry=True)
        return JobOut.model_validate(answer)

    def list(self, limit: int = 20, after: str | None = None) -> JobList:
        """One page of jobs, newest first; pass the last id as `after` for the next."""
        params: dict[str, str | int] = {"limit": limit} | ({"after": after} if after else {})
        return JobList.model_validate(self._client.json("GET", "/v1/jobs", params=params))

    def iter(self, page_size: int = 100) -> Iterator[JobOut]:
        """Every job, newest first, page after page."""
        return every(lambda after: self.list(limit=page_size, after=after))

    def get(self, job_id: str) -> JobOut:
        """One job with its progress, result or error."""
        return JobOut.model_validate(self._client.json("GET", f"/v1/jobs/{job_id}"))

    def cancel(self, job_id: str) -> JobOut:
        """Cancel a job: at once while queued, at the worker's next check while running."""
        return JobOut.model_validate(self._client.json("POST", f"/v1/jobs/{job_id}/cancel"))

    def rounds(self, job_id: str) -> builtins.list[RoundOut]:
        """Every finished round with each candidate layer's score."""
        return RoundList.model_validate(self._client.json("GET", f"/v1/jobs/{job_id}/rounds")).data

    def events(self, job_id: str, after: int = 0, limit: int = 100) -> EventList:
        """One page of the event log, oldest first."""
        params = {"after": after, "limit": limit}
        return EventList.model_validate(self._client.json("GET", f"/v1/jobs/{job_id}/events", params=params))

    def iter_events(self, job_id: str, after: int = 0) -> Iterator[EventOut]:
        """The whole event log so far, page after page."""
        while True:
            page = self.events(job_id, after=after, limit=1000)
            yield from page.data
            if not page.has_more or not page.data:
                return
            after = page.data[-1].id

    def stream(self, job_id: str, after: int = 0) -> Iterator[EventOut]:
        """Events as they happen (server-sent events), ending with the job's terminal event.

        A dropped connection is resumed with `Last-Event-ID`, so no event is lost or repeated.
        """
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream", "Last-Event-ID": str(after)}
            try:
                with self._client.stream("GET", f"/v1/jobs/{job_id}/events", headers=headers) as response:
                    for message in EventSource(response).iter_sse():
                        if not message.data:
                            continue  # a keep-alive: httpx-sse reports it since the last id sticks
                        event = EventOut.model_validate_json(message.data)
                        after, failures = event.id, 0
                        yield event
                        if event.type in TERMINAL_EVENTS:
                            return
            except ApiError as exc:
                if exc.code != "unreachable":
                    raise
                problem = exc
            else:
                # A finished job whose log has no terminal event (older rows) ends the stream without one.
                if self.get(job_id).status in TERMINAL_STATUSES:
                    return
                problem = ApiError.client_side(
                    "stream-ended", "The event stream ended early", f"job {job_id} has not finished"
                )
            # The stream dropped or ended early (a restart, a proxy's timeout): resume after a pause.
            if failures >= self._client.max_retries:
                raise problem
            self._client.sleep(self._client.backoff(failures))
            failures += 1

    def wait(self, job_id: str, on_event: Callable[[EventOut], None] | None = None) -> JobOut:
        """Follow the job's events (from the first) until it ends; returns the finished job."""
        for event in self.stream(job_id):
            if on_event is not None:
                on_event(event)
        job = self.get(job_id)
        if job.status not in TERMINAL_STATUSES:  # the terminal event is written with the status
            raise ApiError.client_side("stream-ended", "The event stream ended early", f"job is {job.status}")
        return job

    def download(self, job_id: str, dest: Path | str, unpack_to: Path | str | None = None) -> Download:
        """Download the pruned model, resuming a partial `<dest>.part`, verified against its sha256."""
        job = self.get(job_id)
        return download_artifact(self._client, job, Path(dest), Path(unpack_to) if unpack_to else None)
