"""Request and response bodies of the files API."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

Purpose = Literal["model", "dataset"]


class FileOut(BaseModel):
    """An uploaded file as the API shows it."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    object: Literal["file"] = "file"
    purpose: Purpose
    filename: str
    bytes: int
    sha256: str
    created_at: datetime


class FileList(BaseModel):
    """One page of files, newest first."""

    object: Literal["list"] = "list"
    data: list[FileOut]
    has_more: bool


class FileDeleted(BaseModel):
    """The answer to a deletion."""

    id: str
    object: Literal["file"] = "file"
    deleted: bool = True
