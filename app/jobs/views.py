"""Turn job rows into the API's job, round and event objects."""

from app.jobs.schemas import (
    ArtifactInfo,
    CandidateOut,
    JobError,
    JobOut,
    JobResult,
    JobUrls,
    Progress,
    RoundOut,
)
from app.models import CandidateScore, Job, JobStatus, Round


def job_out(job: Job) -> JobOut:
    """The job object: request fields, timestamps, progress, result, error and urls."""
    base = f"/v1/jobs/{job.id}"
    result = None
    if job.status == JobStatus.SUCCEEDED and job.result is not None:
        values = dict(job.result)
        # The artifact columns are authoritative; the worker's JSON may predate the upload.
        values["artifact"] = ArtifactInfo(
            bytes=job.artifact_bytes
            if job.artifact_bytes is not None
            else values.get("artifact", {}).get("bytes"),
            sha256=job.artifact_sha256 or values.get("artifact", {}).get("sha256"),
        )
        result = JobResult.model_validate(values)
    error = None
    if job.error_code is not None:
        error = JobError(code=job.error_code, message=job.error_message or "")
    return JobOut(
        id=job.id,
        status=job.status,
        model=job.model,
        task=job.task,
        strategy=job.strategy,
        retention=job.retention,
        hyperparameters=job.hyperparameters,
        metadata=job.metadata_,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        progress=Progress(
            round=job.round,
            layers_total=job.layers_total,
            layers_remaining=job.layers_remaining,
            baseline_score=job.baseline_score,
            current_score=job.current_score,
            retained_fraction=job.retained_fraction,
        ),
        result=result,
        error=error,
        urls=JobUrls(
            self=base,
            rounds=f"{base}/rounds",
            events=f"{base}/events",
            cancel=f"{base}/cancel",
            artifact=f"{base}/artifact",
        ),
    )


def round_out(row: Round, candidates: list[CandidateScore]) -> RoundOut:
    """One round with its candidate scores."""
    return RoundOut(
        round=row.round,
        layers_before=row.layers_before,
        candidates=[CandidateOut(layer=c.layer, score=c.score) for c in candidates],
        removed_layer=row.removed_layer,
        score=row.score,
        report_score=row.report_score,
        retained_fraction=row.retained_fraction,
        accepted=row.accepted,
        seconds=row.seconds,
    )
