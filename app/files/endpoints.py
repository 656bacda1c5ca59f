"""HTTP routes of the files API."""

from typing import Annotated

from fastapi import APIRouter, Form, Query, UploadFile, status

from app.api.deps import CurrentKey, SessionDep, SettingsDep, StorageDep
from app.files import service
from app.files.schemas import FileDeleted, FileList, FileOut, Purpose

router = APIRouter(prefix="/v1/files", tags=["files"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=FileOut)
def upload_file(
    file: UploadFile,
    purpose: Annotated[Purpose, Form()],
    key: CurrentKey,
    session: SessionDep,
    storage: StorageDep,
    settings: SettingsDep,
) -> FileOut:
    """Upload a model archive (.tar.gz/.tgz/.zip) or a dataset (csv, tsv, jsonl, txt, conll)."""
    row = service.upload(session, storage, settings, key.id, purpose, file.filename, file.file)
    return FileOut.model_validate(row)


@router.get("", response_model=FileList)
def list_files(
    key: CurrentKey,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: str | None = None,
) -> FileList:
    """The caller's files, newest first; pass the last id as `after` for the next page."""
    rows, has_more = service.list_files(session, key.id, limit, after)
    return FileList(data=[FileOut.model_validate(r) for r in rows], has_more=has_more)


@router.get("/{file_id}", response_model=FileOut)
def get_file(file_id: str, key: CurrentKey, session: SessionDep) -> FileOut:
    """One of the caller's files."""
    return FileOut.model_validate(service.get(session, key.id, file_id))


@router.delete("/{file_id}", response_model=FileDeleted)
def delete_file(file_id: str, key: CurrentKey, session: SessionDep, storage: StorageDep) -> FileDeleted:
    """Delete a file and its stored bytes; refused while an unfinished job uses it."""
    service.delete(session, storage, key.id, file_id)
    return FileDeleted(id=file_id)
