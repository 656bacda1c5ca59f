"""GET /metrics: job figures from the database and the request latency histogram."""

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.orm import Session

from secateur.kernel.models import CandidateScore, Job, Round


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition as {(name, sorted labels): value}."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_jobs_by_status_and_bucket_durations(
    client: TestClient, caller: Any, make_job: Callable[..., Job], db_session: Session
) -> None:
    """Counts by status, queue depth, and round/candidate histograms come from the rows."""
    make_job(caller.id, status="queued")
    make_job(caller.id, status="queued")
    running = make_job(caller.id, status="running")
    db_session.add_all(
        [
            Round(job_id=running.id, round=1, layers_before=4, removed_layer=2, score=0.9, report_score=0.9,
                  retained_fraction=1.0, accepted=True, seconds=3.0, train_examples=10),
            CandidateScore(job_id=running.id, round=1, layer=2, score=0.9, seconds=0.5),
            CandidateScore(job_id=running.id, round=1, layer=3, score=0.8, seconds=20.0),
        ]
    )  # fmt: skip
    db_session.commit()

    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    assert samples[("secateur_jobs", (("status", "queued"),))] == 2
    assert samples[("secateur_jobs", (("status", "running"),))] == 1
    assert samples[("secateur_jobs", (("status", "failed"),))] == 0
    assert samples[("secateur_queue_depth", ())] == 2
    assert samples[("secateur_database_up", ())] == 1
    assert samples[("secateur_round_duration_seconds_count", ())] == 1
    assert samples[("secateur_round_duration_seconds_bucket", (("le", "5.0"),))] == 1
    assert samples[("secateur_candidate_duration_seconds_sum", ())] == 20.5
    assert samples[("secateur_candidate_duration_seconds_bucket", (("le", "1.0"),))] == 1
    assert samples[("secateur_candidate_duration_seconds_bucket", (("le", "15.0"),))] == 1
    assert samples[("secateur_candidate_duration_seconds_bucket", (("le", "60.0"),))] == 2


def test_request_latency_is_observed_by_route_template(
    client: TestClient, caller: Any, make_job: Callable[..., Job]
) -> None:
    """Each answered request lands in the histogram under its template, never its raw path."""
    job = make_job(caller.id)
    assert client.get(f"/v1/jobs/{job.id}", headers=caller.headers).status_code == 200
    assert client.get("/v1/jobs/job_missing", headers=caller.headers).status_code == 404
    samples = _samples(client.get("/metrics").text)
    route = "/v1/jobs/{job_id}"
    ok = (
        "secateur_http_request_duration_seconds_count",
        (("method", "GET"), ("route", route), ("status", "200")),
    )
    missing = (ok[0], (("method", "GET"), ("route", route), ("status", "404")))
    assert samples[ok] == 1 and samples[missing] == 1
    assert not any(job.id in str(labels) for _, labels in samples)
