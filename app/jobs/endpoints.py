"""HTTP routes of the jobs API."""

from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, Response, status
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from app.api.deps import CallerDep, CurrentKey, SessionDep, SettingsDep, StorageDep
from app.api.responses import json_response
from app.core.problems import (
    AUTH_PROBLEMS,
    JSON_BODY_PROBLEMS,
    ArtifactMissing,
    ArtifactNotReady,
    BadRange,
    DepthDropped,
    DepthNotFound,
    IdempotencyKeyReused,
    InvalidHeader,
    JobFinished,
    NotFound,
    RangeNotSatisfiable,
    ValidationFailed,
)
from app.core.problems_openapi import problem_responses
from app.jobs import service
from app.jobs.artifact import artifact_response, depth_response
from app.jobs.estimate_schemas import JobEstimate
from app.jobs.events import EventHubDep, event_stream, resume_point, wants_stream
from secateur.kernel.jobs import repository
from secateur.kernel.jobs.history import DepthList, EventList, EventOut, RoundList
from secateur.kernel.jobs.schemas import JobCreate, JobList, JobOut
from secateur.kernel.jobs.serializers import depth_out, job_list, job_out, round_out
from secateur.kernel.models import JobStatus

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
MAX_EVENT_ID = 2**31 - 1  # the events table's id is an INTEGER: PostgreSQL cannot compare past it

IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", min_length=1, max_length=255, description="Replays return the same job."),
]


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=JobOut,
    responses={
        200: {
            "model": JobOut | JobEstimate,
            "description": "A replay of an earlier request with the same key, or a dry run's estimate.",
        },
        **problem_responses(*AUTH_PROBLEMS, *JSON_BODY_PROBLEMS, IdempotencyKeyReused),
    },
)
def create_job(
    body: JobCreate,
    key: CurrentKey,
    session: SessionDep,
    settings: SettingsDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Submit a pruning job; it is queued once its row is committed. `dry_run: true` only estimates it."""
    if body.dry_run:
        return json_response(service.dry_run(session, key.id, body), status.HTTP_200_OK)
    job, created = service.create_job(
        session, settings=settings, owner_id=key.id, body=body, idempotency_key=idempotency_key
    )
    return json_response(job_out(job), status.HTTP_201_CREATED if created else status.HTTP_200_OK)


@router.get("", response_model=JobList, responses=problem_responses(*AUTH_PROBLEMS, ValidationFailed))
async def list_jobs(
    caller: CallerDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The caller's jobs, newest first; pass the last id as `after` for the next page."""

    def read(conn: Connection) -> Response:
        rows, has_more = service.list_jobs(conn, caller.key.id, limit, after)
        return json_response(job_list(rows, has_more))

    return await caller.read(read)


@router.get("/{job_id}", response_model=JobOut, responses=problem_responses(*AUTH_PROBLEMS, NotFound))
async def get_job(job_id: str, caller: CallerDep) -> Response:
    """One of the caller's jobs, with its progress, result or error."""
    return await caller.read(lambda c: json_response(job_out(service.view_job(c, caller.key.id, job_id))))


@router.get(
    "/{job_id}/rounds", response_model=RoundList, responses=problem_responses(*AUTH_PROBLEMS, NotFound)
)
async def list_rounds(job_id: str, caller: CallerDep) -> Response:
    """Every finished round with the score of each candidate layer."""

    def read(session: Session) -> Response:
        job = service.get_job(session, caller.key.id, job_id)
        rounds = repository.rounds_with_candidates(session, job.id)
        return json_response(RoundList(data=[round_out(r, c) for r, c in rounds]))

    return await caller.run(read)


@router.get(
    "/{job_id}/events",
    response_model=EventList,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "With `Accept: text/event-stream`: each event as it is written (id = event id), "
            "keep-alive comments, and the end of the stream once the job has finished.",
        },
        **problem_responses(*AUTH_PROBLEMS, InvalidHeader, NotFound, ValidationFailed),
    },
)
def list_events(
    job_id: str,
    request: Request,
    key: CurrentKey,
    session: SessionDep,
    hub: EventHubDep,
    after: Annotated[int, Query(ge=0, le=MAX_EVENT_ID)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    last_event_id: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
) -> Response:
    """The job's event log, oldest first; pass the last event id as `after` to continue, or stream it."""
    if not wants_stream(request):
        rows, has_more = service.list_events(
            session, owner_id=key.id, job_id=job_id, after=after, limit=limit
        )
        return json_response(EventList(data=[EventOut.model_validate(e) for e in rows], has_more=has_more))
    job = service.get_job(session, key.id, job_id)
    start = resume_point(last_event_id, after, MAX_EVENT_ID)
    replay = None
    if job.status in JobStatus.TERMINAL:
        replay = [EventOut.model_validate(e) for e in repository.events_after(session, job.id, start)]
    # The session closes when this function returns (SessionDep's scope), so an open stream holds no
    # connection: the hub reads with its own, between polls none.
    return event_stream(hub, job.id, start, replay)


@router.post(
    "/{job_id}/cancel",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    responses={
        200: {"model": JobOut, "description": "A queued job was cancelled at once."},
        **problem_responses(*AUTH_PROBLEMS, NotFound, JobFinished),
    },
)
def cancel_job(job_id: str, key: CurrentKey, session: SessionDep, settings: SettingsDep) -> Response:
    """Cancel a job: at once while queued, else the worker stops at its next check (202)."""
    job, code = service.cancel(session, settings, key.id, job_id)
    return json_response(job_out(job), code)


@router.get(
    "/{job_id}/artifact",
    response_class=Response,
    responses={
        200: {"content": {"application/gzip": {}}, "description": "The pruned model as a .tar.gz."},
        206: {"description": "The requested byte range."},
        304: {"description": "The client's copy (If-None-Match) is current."},
        307: {"description": "Redirect to a short-lived download URL (S3 storage)."},
        **problem_responses(
            *AUTH_PROBLEMS, BadRange, NotFound, ArtifactMissing, ArtifactNotReady, RangeNotSatisfiable
        ),
    },
)
def download_artifact(
    job_id: str, request: Request, key: CurrentKey, session: SessionDep, storage: StorageDep
) -> Response:
    """The pruned model (HF directory + pruning_report.json); strong ETag, Range requests honoured."""
    return artifact_response(request, service.get_job(session, key.id, job_id), storage)


# HEAD shares the handler; kept out of the schema so OpenAPI has one operation per id.
router.add_api_route(
    "/{job_id}/artifact",
    download_artifact,
    methods=["HEAD"],
    include_in_schema=False,
    response_class=Response,
)


@router.get(
    "/{job_id}/artifacts", response_model=DepthList, responses=problem_responses(*AUTH_PROBLEMS, NotFound)
)
def list_depths(job_id: str, key: CurrentKey, session: SessionDep) -> DepthList:
    """Every accepted depth kept so far (also while the job runs): layers, scores, size and latency."""
    job = service.get_job(session, key.id, job_id)
    return DepthList(data=[depth_out(row) for row in repository.depths(session, job.id)])


@router.get(
    "/{job_id}/artifacts/{layers}",
    response_class=Response,
    responses={
        200: {"content": {"application/gzip": {}}, "description": "That depth's model as a .tar.gz."},
        206: {"description": "The requested byte range."},
        304: {"description": "The client's copy (If-None-Match) is current."},
        307: {"description": "Redirect to a short-lived download URL (S3 storage)."},
        **problem_responses(
            *AUTH_PROBLEMS,
            BadRange,
            NotFound,
            DepthNotFound,
            ArtifactMissing,
            DepthDropped,
            RangeNotSatisfiable,
            ValidationFailed,
        ),
    },
)
def download_depth(
    job_id: str,
    layers: Annotated[int, Path(ge=1, le=4096)],
    request: Request,
    key: CurrentKey,
    session: SessionDep,
    storage: StorageDep,
) -> Response:
    """One accepted depth's model, with the same ETag and Range behaviour as the artifact."""
    return depth_response(request, service.depth_of(session, key.id, job_id, layers), storage)


router.add_api_route(
    "/{job_id}/artifacts/{layers}",
    download_depth,
    methods=["HEAD"],
    include_in_schema=False,
    response_class=Response,
)
