"""Serve a job's archives (the artifact, kept depths): a local file with Range and ETag, or an S3 redirect."""

from fastapi import Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.responses import MalformedRangeHeader
from starlette.responses import RangeNotSatisfiable as RangeOutsideFile

from app.core.problems import ArtifactMissing, BadRange, RangeNotSatisfiable
from app.jobs.service import artifact_key
from secateur.kernel.models import Job, JobDepth
from secateur.kernel.storage import Storage


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match uses weak comparison: any listed tag with the same opaque value matches."""
    tags = [tag.strip().removeprefix("W/") for tag in header.split(",")]
    return "*" in tags or etag in tags


def artifact_response(request: Request, job: Job, storage: Storage) -> Response:
    """The pruned model archive of a succeeded job (409 before)."""
    key = artifact_key(job)
    what = f"The artifact of job {job.id!r}"
    return _archive(
        request, storage=storage, key=key, sha256=job.artifact_sha256, filename=f"{job.id}.tar.gz", what=what
    )


def depth_response(request: Request, depth: JobDepth, storage: Storage) -> Response:
    """One kept depth's archive, served exactly like the artifact."""
    assert depth.storage_key is not None  # the service answers 410 for a dropped depth
    filename = f"{depth.job_id}-layers-{depth.layers}.tar.gz"
    what = f"The {depth.layers}-layer model of job {depth.job_id!r}"
    return _archive(
        request, storage=storage, key=depth.storage_key, sha256=depth.sha256, filename=filename, what=what
    )


def _archive(
    request: Request, *, storage: Storage, key: str, sha256: str | None, filename: str, what: str
) -> Response:
    """A stored .tar.gz: presigned redirect on S3, else the file with a strong ETag and Range support."""
    url = storage.presigned_url(key, filename)
    if url is not None:
        return RedirectResponse(url, status_code=307)
    path = storage.local_path(key)
    if path is None or not path.is_file():
        raise ArtifactMissing(f"{what} is missing from storage.")
    etag = f'"{sha256}"'
    headers = {"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": "private, max-age=0"}
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _etag_matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    _check_range(request, path.stat().st_size, etag)
    return FileResponse(path, media_type="application/gzip", filename=filename, headers=headers)


def _check_range(request: Request, size: int, etag: str) -> None:
    """Turn a bad Range into a problem+json 400/416 (FileResponse would answer in plain text)."""
    http_range = request.headers.get("range")
    if_range = request.headers.get("if-range")
    if http_range is None or (if_range is not None and if_range != etag):
        return  # no range, or the client's copy is stale: the whole file is sent
    try:
        # Starlette's own parser, so the check agrees exactly with what FileResponse will serve.
        FileResponse._parse_range_header(http_range, size)
    except MalformedRangeHeader as exc:
        raise BadRange(f"Malformed Range header: {exc.content}") from exc
    except RangeOutsideFile as exc:
        raise RangeNotSatisfiable(
            f"The range is outside the artifact's {size} bytes.",
            headers={"Content-Range": f"bytes */{size}"},
        ) from exc
