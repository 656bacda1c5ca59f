"""The Alembic migrations build exactly app/models.py's schema, and come apart again."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from app.core.db import make_engine
from app.core.migrate import downgrade_to_base, upgrade_to_head
from app.models import Base

TABLES = {"api_keys", "files", "jobs", "rounds", "candidate_scores", "events"}


def test_upgrade_to_head_and_downgrade_to_base(empty_database_url: str) -> None:
    """An empty database migrates to head without drift from the models, back to base, and up again."""
    engine = make_engine(empty_database_url)
    try:
        upgrade_to_head(empty_database_url)
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as conn:
            # No drift between the models and the migrated schema (what `alembic check` reports).
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
            assert diff == []
        downgrade_to_base(empty_database_url)
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade_to_head(empty_database_url)  # and it can be rebuilt
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()
