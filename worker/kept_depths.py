"""Every accepted depth kept for download: upload it, record it, hold the job within its storage bound."""

from __future__ import annotations

from sqlalchemy import delete, select

from secateur.kernel.db import session_scope
from secateur.kernel.lifecycle import add_event
from secateur.kernel.models import JobDepth, utcnow
from secateur.kernel.storage import Storage
from worker.blobs import upload_depth
from worker.pruning.types import Depth


def keep_depth(storage: Storage, job_id: str, depth: Depth, *, bound: int, device: str) -> None:
    """Store one accepted depth's archive and row; then drop the oldest kept depths beyond `bound` bytes.

    The newest depth is the final model so far, so it is never dropped, even when it alone is larger.
    A resumed run replays the round and replaces the row and archive with the same model.
    """
    key, size, sha256 = upload_depth(storage, job_id, depth.layers, depth.directory)
    with session_scope() as session:
        session.execute(delete(JobDepth).where(JobDepth.job_id == job_id, JobDepth.layers == depth.layers))
        session.add(
            JobDepth(
                job_id=job_id,
                round=depth.round,
                layers=depth.layers,
                kept_layers=list(depth.kept_layers),
                score=depth.score,
                report_score=depth.report_score,
                parameters=depth.parameters,
                latency_ms=depth.latency_ms,
                device=device if depth.latency_ms is not None else None,
                bytes=size,
                sha256=sha256,
                storage_key=key,
            )
        )
        add_event(
            session,
            job_id,
            "depth.saved",
            f"kept the {depth.layers}-layer model of round {depth.round} ({size} bytes)",
            round=depth.round,
            layers=depth.layers,
            bytes=size,
            sha256=sha256,
        )
    _hold_bound(storage, job_id, bound)


def _hold_bound(storage: Storage, job_id: str, bound: int) -> None:
    """Drop the oldest kept depths (most layers) until the job's depths fit `bound`, keeping the newest."""
    with session_scope() as session:
        kept = list(
            session.scalars(
                select(JobDepth)
                .where(JobDepth.job_id == job_id, JobDepth.storage_key.is_not(None))
                .order_by(JobDepth.layers.desc())
            )
        )
        total = sum(row.bytes for row in kept)
        for row in kept[:-1]:
            if total <= bound:
                break
            assert row.storage_key is not None
            storage.delete(row.storage_key)
            row.storage_key, row.dropped_at = None, utcnow()
            total -= row.bytes
            add_event(
                session,
                job_id,
                "depth.dropped",
                f"dropped the {row.layers}-layer model ({row.bytes} bytes) to keep this job's depths within "
                f"{bound} bytes; its scores stay listed",
                layers=row.layers,
                bytes=row.bytes,
            )
