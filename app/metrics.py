"""Prometheus metrics: request latency observed in-process, job figures read from the database.

The job figures (counts by status, queue depth, round and candidate durations) are computed from the
database at scrape time rather than counted where they happen. Workers are short-lived processes
(one per job) on other machines, so in-process counters there would need a push gateway or a
multiprocess directory; the database already holds every round's and candidate's duration, and it
gives every API replica the same answer. Scrape one replica, or aggregate the job figures with
max() rather than sum(). Request latency is per process: aggregate it with sum().
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from secateur.kernel.models import CandidateScore, Job, JobStatus, Round
from secateur.kernel.vocabulary import JOB_STATUSES

logger = logging.getLogger("secateur.metrics")

# Rounds and candidates last from seconds (tiny models) to hours (a large model on a big dataset).
DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 12 * 3600.0)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)


class JobCollector(Collector):
    """Job counts by status, queue depth, and round and candidate durations, from the database."""

    def __init__(self, factory: Callable[[], sessionmaker[Session]]) -> None:
        self.factory = factory

    def collect(self) -> Iterator[Metric]:
        """Read the figures; a database that does not answer yields `secateur_database_up 0` only."""
        up = GaugeMetricFamily("secateur_database_up", "Whether the last scrape could read the database.")
        try:
            with self.factory()() as session:
                metrics = list(self._read(session))
        except Exception:
            logger.warning("metrics: the database did not answer", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics

    def _read(self, session: Session) -> Iterator[Metric]:
        """Every job metric, three queries in all."""
        counts = dict(session.execute(select(Job.status, func.count()).group_by(Job.status)).tuples().all())
        jobs = GaugeMetricFamily("secateur_jobs", "Jobs by status.", labels=["status"])
        for status in JOB_STATUSES:
            jobs.add_metric([status], counts.get(status, 0))
        yield jobs
        depth = GaugeMetricFamily("secateur_queue_depth", "Jobs waiting for a worker (status queued).")
        depth.add_metric([], counts.get(JobStatus.QUEUED, 0))
        yield depth
        yield _histogram(session, Round.seconds, "secateur_round_duration_seconds", "Duration of rounds.")
        yield _histogram(
            session, CandidateScore.seconds, "secateur_candidate_duration_seconds", "Duration of candidates."
        )


def _histogram(
    session: Session, column: InstrumentedAttribute[float], name: str, documentation: str
) -> Metric:
    """A cumulative histogram of a `seconds` column, bucketed in SQL."""
    buckets = [func.sum(case((column <= bound, 1), else_=0)) for bound in DURATION_BUCKETS]
    row = session.execute(select(func.count(column), func.coalesce(func.sum(column), 0.0), *buckets)).one()
    count, total, *cumulative = row.tuple()
    values = [(str(bound), int(n or 0)) for bound, n in zip(DURATION_BUCKETS, cumulative, strict=True)]
    metric = HistogramMetricFamily(name, documentation)
    metric.add_metric([], [*values, ("+Inf", int(count))], sum_value=float(total))
    return metric


class Metrics:
    """The registry one application exposes at /metrics."""

    def __init__(self, factory: Callable[[], sessionmaker[Session]]) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram(
            "secateur_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(JobCollector(factory))

    def render(self) -> bytes:
        """The text exposition format."""
        return generate_latest(self.registry)


class LatencyMiddleware:
    """A pure ASGI middleware observing each HTTP request's duration under its route template."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        """Wrap the next ASGI app."""
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request from its start to the end of its response body."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            """Note the status code on its way out."""
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            # The template (/v1/jobs/{job_id}), never the raw path, so the label set stays small.
            template = getattr(route, "path", "unmatched")
            self.metrics.latency.labels(scope["method"], template, str(status)).observe(
                time.perf_counter() - started
            )
