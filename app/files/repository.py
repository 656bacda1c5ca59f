"""All SQL about uploaded files."""

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from secateur.kernel.models import File, Job, JobStatus


def get_owned(session: Session, owner_id: str, file_id: str) -> File | None:
    """The file if it exists and belongs to `owner_id`; another key's file is simply not found."""
    return session.scalars(select(File).where(File.id == file_id, File.owner_id == owner_id)).one_or_none()


def list_page(session: Session, owner_id: str, limit: int, after: File | None) -> list[File]:
    """Up to `limit + 1` files newest first, strictly after the cursor file (the extra row means more)."""
    query = select(File).where(File.owner_id == owner_id)
    if after is not None:
        query = query.where(
            or_(
                File.created_at < after.created_at,
                and_(File.created_at == after.created_at, File.id < after.id),
            )
        )
    query = query.order_by(File.created_at.desc(), File.id.desc()).limit(limit + 1)
    return list(session.scalars(query))


def add(session: Session, row: File) -> File:
    """Insert a file row."""
    session.add(row)
    session.flush()
    return row


def delete(session: Session, row: File) -> None:
    """Delete a file row."""
    session.delete(row)
    session.flush()


def active_jobs_using(session: Session, owner_id: str, file_id: str) -> list[str]:
    """Ids of the owner's unfinished jobs whose model or task files include `file_id`."""
    rows = session.execute(
        select(Job.id, Job.model, Job.task).where(
            Job.owner_id == owner_id, Job.status.not_in(JobStatus.TERMINAL)
        )
    )
    # The task is JSON; matching in Python keeps this portable across SQLite and PostgreSQL.
    return [
        job_id
        for job_id, model, task in rows
        if file_id in {model, (task or {}).get("train_file"), (task or {}).get("validation_file")}
    ]
