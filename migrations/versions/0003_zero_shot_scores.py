"""Zero-shot candidate scores: nullable fine-tuned score, zero-shot metric, loss and Block Influence.

Candidates of the shortlist and analysis strategies are scored without training; only some (or none)
are fine-tuned, so `candidate_scores.score` becomes nullable. Rounds record whether the fine-tuned
winner was the zero-shot favourite and the Kendall tau of the two rankings. Batch mode, so SQLite can
alter the column.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 01:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the zero-shot columns; allow candidates without a fine-tuned score."""
    with op.batch_alter_table("candidate_scores") as batch:
        batch.alter_column("score", existing_type=sa.Float(), nullable=True)
        batch.add_column(sa.Column("zero_shot_score", sa.Float(), nullable=True))
        batch.add_column(sa.Column("zero_shot_loss", sa.Float(), nullable=True))
        batch.add_column(sa.Column("block_influence", sa.Float(), nullable=True))
    with op.batch_alter_table("rounds") as batch:
        batch.add_column(sa.Column("zero_shot_top", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("kendall_tau", sa.Float(), nullable=True))


def downgrade() -> None:
    """Drop the zero-shot columns; candidates never fine-tuned have no score to keep, so they go."""
    with op.batch_alter_table("rounds") as batch:
        batch.drop_column("kendall_tau")
        batch.drop_column("zero_shot_top")
    op.execute("DELETE FROM candidate_scores WHERE score IS NULL")
    with op.batch_alter_table("candidate_scores") as batch:
        batch.drop_column("block_influence")
        batch.drop_column("zero_shot_loss")
        batch.drop_column("zero_shot_score")
        batch.alter_column("score", existing_type=sa.Float(), nullable=False)
