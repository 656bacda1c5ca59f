"""HTTP routes of the files API."""

import functools
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import APIRouter, Query, Request, status

from app.api.deps import CurrentKey, SessionDep, SessionFactoryDep, SettingsDep, StorageDep
from app.core.problems import (
    AUTH_PROBLEMS,
    BodyTimeout,
    FileInUse,
    FileTooLarge,
    InvalidArchive,
    InvalidDataset,
    InvalidModel,
    NotFound,
    ValidationFailed,
)
from app.core.problems_openapi import problem_responses
from app.files import service
from app.files.schemas import FileDeleted, FileList, FileOut
from app.files.upload_stream import receive_upload

router = APIRouter(prefix="/v1/files", tags=["files"])

_UPLOAD_FORM: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["purpose", "file"],
                    "properties": {
                        "purpose": {"type": "string", "enum": ["model", "dataset"]},
                        "file": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}


@functools.cache
def _checkers(concurrency: int) -> anyio.CapacityLimiter:
    """Threads for archive and dataset checks: few, so uploads cannot take the API's CPU and memory."""
    return anyio.CapacityLimiter(concurrency)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FileOut,
    openapi_extra=_UPLOAD_FORM,
    responses=problem_responses(
        *AUTH_PROBLEMS,
        InvalidArchive,
        InvalidModel,
        InvalidDataset,
        BodyTimeout,
        FileTooLarge,
        ValidationFailed,
    ),
)
async def upload_file(
    request: Request,
    key: CurrentKey,
    factory: SessionFactoryDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> FileOut:
    """Upload a model archive (.tar.gz/.tgz/.zip) or a dataset (csv, tsv, jsonl, txt, conll).

    The body is streamed into storage under its limit; the checks then run in a small thread pool
    with no database connection held; only the final insert takes one, briefly.
    """
    content_type = request.headers.get("content-type", "")
    suffixes = service.UPLOAD_SUFFIXES
    received = await receive_upload(
        request.stream(), content_type=content_type, storage=storage, settings=settings, suffixes=suffixes
    )
    try:
        purpose, _ = await anyio.to_thread.run_sync(
            service.check_upload,
            storage,
            settings,
            received,
            limiter=_checkers(settings.archive_check_concurrency),
        )

        def record() -> FileOut:
            with factory() as session:
                return FileOut.model_validate(service.record_upload(session, key.id, purpose, received))

        return await anyio.to_thread.run_sync(record)
    except BaseException:
        # Nothing is kept for a refused or unrecorded upload.
        if received.key is not None:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(storage.delete, received.key)
        raise


@router.get("", response_model=FileList, responses=problem_responses(*AUTH_PROBLEMS, ValidationFailed))
def list_files(
    key: CurrentKey,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> FileList:
    """The caller's files, newest first; pass the last id as `after` for the next page."""
    rows, has_more = service.list_files(session, key.id, limit, after)
    return FileList(data=[FileOut.model_validate(r) for r in rows], has_more=has_more)


@router.get("/{file_id}", response_model=FileOut, responses=problem_responses(*AUTH_PROBLEMS, NotFound))
def get_file(file_id: str, key: CurrentKey, session: SessionDep) -> FileOut:
    """One of the caller's files."""
    return FileOut.model_validate(service.get(session, key.id, file_id))


@router.delete(
    "/{file_id}", response_model=FileDeleted, responses=problem_responses(*AUTH_PROBLEMS, NotFound, FileInUse)
)
def delete_file(file_id: str, key: CurrentKey, session: SessionDep, storage: StorageDep) -> FileDeleted:
    """Delete a file and its stored bytes; refused while an unfinished job uses it."""
    service.delete(session, storage, key.id, file_id)
    return FileDeleted(id=file_id)
