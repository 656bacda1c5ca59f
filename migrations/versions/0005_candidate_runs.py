"""Candidate runs: the work list a round's candidate fine-tunes are shared out from, one row each.

Written to match secateur/kernel/models.py (UTCDateTime is the timezone-aware DateTime it wraps). A new table only,
so no batch mode is needed on SQLite.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 04:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the candidate_runs table."""
    utc = sa.DateTime(timezone=True)
    op.create_table(
        "candidate_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("job_id", sa.String(length=40), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("layer", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("worker", sa.String(length=255), nullable=True),
        sa.Column("claims", sa.Integer(), nullable=False),
        sa.Column("lease_at", utc, nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("train_examples", sa.BigInteger(), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("finished_at", utc, nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_candidate_runs_job_id_jobs", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_candidate_runs"),
        sa.UniqueConstraint(
            "job_id", "attempt", "round", "layer", name="uq_candidate_runs_job_attempt_round_layer"
        ),
    )


def downgrade() -> None:
    """Drop the candidate_runs table."""
    op.drop_table("candidate_runs")
