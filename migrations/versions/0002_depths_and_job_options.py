"""Kept depths and job options: the job_depths table, and jobs' baseline mode, layer constraints and warnings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JOB_COLUMNS = ("warnings", "keep_depths", "target_layers", "protected_layers", "allow_weak_baseline", "baseline")


def upgrade() -> None:
    """Add the job options (server defaults fill existing rows) and the job_depths table."""
    # Batch mode: SQLite cannot ALTER a table beyond adding columns, and PostgreSQL runs it as plain ALTERs.
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("baseline", sa.String(length=16), server_default="fine-tune", nullable=False)
        )
        batch.add_column(
            sa.Column("allow_weak_baseline", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch.add_column(sa.Column("protected_layers", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("target_layers", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("keep_depths", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch.add_column(sa.Column("warnings", sa.JSON(), nullable=True))
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "job_depths",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("layers", sa.Integer(), nullable=False),
        sa.Column("kept_layers", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("report_score", sa.Float(), nullable=False),
        sa.Column("parameters", sa.BigInteger(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("device", sa.String(length=255), nullable=True),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=500), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("dropped_at", utc, nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_depths_job_id_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_job_depths"),
        sa.UniqueConstraint("job_id", "layers", name="uq_job_depths_job_layers"),
    )


def downgrade() -> None:
    """Drop the job_depths table and the job options."""
    op.drop_table("job_depths")
    with op.batch_alter_table("jobs") as batch:
        for name in JOB_COLUMNS:
            batch.drop_column(name)
