"""The Alembic migrations build exactly the models' schema, webhook tables included, and come apart again."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text

import secateur.kernel.webhooks.models  # noqa: F401  (puts the webhook tables in Base.metadata)
from secateur.kernel.db import make_engine
from secateur.kernel.migrate import alembic_config, upgrade_to_head
from secateur.kernel.models import Base

TABLES = {"api_keys", "files", "jobs", "rounds", "candidate_scores", "events", "job_depths"}


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
        command.downgrade(alembic_config(empty_database_url), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade_to_head(empty_database_url)  # and it can be rebuilt
        assert set(inspect(engine).get_table_names()) >= TABLES
    finally:
        engine.dispose()


def test_0002_adds_depths_and_job_options_to_existing_jobs_and_removes_them(empty_database_url: str) -> None:
    """A job made at 0001 gets the defaults of the new options; downgrading to 0001 keeps the job."""
    engine = make_engine(empty_database_url)
    config = alembic_config(empty_database_url)
    try:
        command.upgrade(config, "0001")
        with engine.begin() as conn:
            key = "INSERT INTO api_keys VALUES ('key_1', 'k', 'h', 'p', CURRENT_TIMESTAMP, NULL)"
            conn.execute(text(key))
            conn.execute(
                text(
                    "INSERT INTO jobs (id, owner_id, status, model, task, strategy, retention,"
                    " hyperparameters, metadata, created_at, attempts, round) VALUES ('job_1', 'key_1',"
                    " 'queued', 'm', '{}', 'aglp', 0.9, '{}', '{}', CURRENT_TIMESTAMP, 0, 0)"
                )
            )
        command.upgrade(config, "0002")
        with engine.connect() as conn:
            row = conn.execute(text("SELECT baseline, allow_weak_baseline, keep_depths FROM jobs")).one()
        assert (row[0], bool(row[1]), bool(row[2])) == ("fine-tune", False, True)
        assert "job_depths" in inspect(engine).get_table_names()
        command.downgrade(config, "0001")
        assert "job_depths" not in inspect(engine).get_table_names()
        assert "baseline" not in {c["name"] for c in inspect(engine).get_columns("jobs")}
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM jobs")).scalar_one() == "job_1"
    finally:
        engine.dispose()
