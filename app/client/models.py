"""The client's typed results: the API's own response schemas (one vocabulary), plus a download receipt."""

from dataclasses import dataclass
from pathlib import Path

from app.files.schemas import FileDeleted, FileList, FileOut, Purpose
from secateur.kernel.jobs.history import CandidateOut, EventList, EventOut, RoundList, RoundOut
from secateur.kernel.jobs.schemas import JobCreate, JobList, JobOut, Progress
from secateur.kernel.vocabulary import TERMINAL_STATUSES, JobStatusName


@dataclass(frozen=True)
class Download:
    """A verified artifact on disk: where it is, its digest, how many bytes were resumed, where unpacked."""

    path: Path
    sha256: str
    bytes: int
    resumed_from: int
    unpacked_to: Path | None = None


__all__ = [
    "TERMINAL_STATUSES",
    "CandidateOut",
    "Download",
    "EventList",
    "EventOut",
    "FileDeleted",
    "FileList",
    "FileOut",
    "JobCreate",
    "JobList",
    "JobOut",
    "JobStatusName",
    "Progress",
    "Purpose",
    "RoundList",
    "RoundOut",
]
