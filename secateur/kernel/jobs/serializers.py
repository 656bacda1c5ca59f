"""Turn job rows into the API's job, round and event objects."""

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row

from secateur.kernel.jobs.history import CandidateOut, DepthOut, RoundOut
from secateur.kernel.jobs.schemas import JobList, JobOut
from secateur.kernel.models import CandidateScore, Job, JobDepth, JobStatus, Round


def job_out(job: Job | Row[Any]) -> JobOut:
    """The job object: request fields, timestamps, progress, result, error and urls.

    `job` is a Job or a row of `repository.VIEW_FIELDS`, whose names are Job's attribute names.
    """
    return JobOut.model_validate(job_fields(job))


def job_list(rows: Sequence[Job | Row[Any]], has_more: bool) -> JobList:
    """One page of jobs, validated in one call: no model is built field by field in Python."""
    return JobList.model_validate({"data": [job_fields(row) for row in rows], "has_more": has_more})


def job_fields(job: Job | Row[Any]) -> dict[str, Any]:
    """What `JobOut` validates, as plain values: pydantic-core builds the nested models in one pass."""
    base = f"/v1/jobs/{job.id}"
    result = None
    if job.status == JobStatus.SUCCEEDED and job.result is not None:
        result = dict(job.result)
        artifact = result.get("artifact", {})
        # The artifact columns are authoritative; the worker's JSON may predate the upload.
        result["artifact"] = {
            "bytes": job.artifact_bytes if job.artifact_bytes is not None else artifact.get("bytes"),
            "sha256": job.artifact_sha256 or artifact.get("sha256"),
        }
    error = None
    if job.error_code is not None:
        error = {"code": job.error_code, "message": job.error_message or ""}
    return {
        "id": job.id,
        "status": job.status,
        "model": job.model,
        "task": job.task,
        "strategy": job.strategy,
        "retention": job.retention,
        "hyperparameters": job.hyperparameters,
        "metadata": job.metadata_,
        "baseline": job.baseline,
        "allow_weak_baseline": job.allow_weak_baseline,
        "protected_layers": list(job.protected_layers or []),
        "target_layers": job.target_layers,
        "keep_depths": job.keep_depths,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "progress": {
            "round": job.round,
            "layers_total": job.layers_total,
            "layers_remaining": job.layers_remaining,
            "baseline_score": job.baseline_score,
            "current_score": job.current_score,
            "retained_fraction": job.retained_fraction,
        },
        "result": result,
        "error": error,
        "warnings": job.warnings or [],
        "urls": {
            "self": base,
            "rounds": f"{base}/rounds",
            "events": f"{base}/events",
            "cancel": f"{base}/cancel",
            "artifact": f"{base}/artifact",
            "artifacts": f"{base}/artifacts",
        },
    }


def round_out(row: Round, candidates: list[CandidateScore]) -> RoundOut:
    """One round with its candidate scores."""
    return RoundOut(
        round=row.round,
        layers_before=row.layers_before,
        candidates=[
            CandidateOut(
                layer=c.layer,
                score=c.score,
                zero_shot_score=c.zero_shot_score,
                zero_shot_loss=c.zero_shot_loss,
                block_influence=c.block_influence,
            )
            for c in candidates
        ],
        removed_layer=row.removed_layer,
        score=row.score,
        report_score=row.report_score,
        retained_fraction=row.retained_fraction,
        accepted=row.accepted,
        seconds=row.seconds,
        train_examples=row.train_examples,
        zero_shot_top=row.zero_shot_top,
        kendall_tau=row.kendall_tau,
    )


def depth_out(row: JobDepth) -> DepthOut:
    """One kept depth, with its download URL while its archive is kept."""
    available = row.storage_key is not None
    return DepthOut(
        layers=row.layers,
        round=row.round,
        kept_layers=list(row.kept_layers),
        score=row.score,
        report_score=row.report_score,
        parameters=row.parameters,
        bytes=row.bytes,
        sha256=row.sha256,
        latency_ms=row.latency_ms,
        device=row.device,
        available=available,
        url=f"/v1/jobs/{row.job_id}/artifacts/{row.layers}" if available else None,
    )
