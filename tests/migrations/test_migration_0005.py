"""Revision 0005 adds candidate_runs on top of 0004, keyed once per job, attempt, round and layer."""

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from secateur.kernel.db import make_engine
from secateur.kernel.migrate import alembic_config

JOB = (
    "INSERT INTO jobs (id, owner_id, status, model, task, strategy, retention, hyperparameters, metadata,"
    " created_at, attempts, round) VALUES ('job_1', 'key_1', 'running', 'm', '{}', 'aglp', 0.9, '{}', '{}',"
    " CURRENT_TIMESTAMP, 1, 0)"
)
RUN = (
    "INSERT INTO candidate_runs (job_id, attempt, round, layer, status, claims, created_at)"
    " VALUES ('job_1', 1, 1, :layer, 'pending', 0, CURRENT_TIMESTAMP)"
)


def test_0005_upgrades_from_0004_and_downgrades(empty_database_url: str) -> None:
    """0004 has no candidate_runs; 0005 creates it with its unique key; downgrading drops it, jobs stay."""
    config = alembic_config(empty_database_url)
    engine = make_engine(empty_database_url)
    try:
        command.upgrade(config, "0004")
        assert "candidate_runs" not in inspect(engine).get_table_names()
        with engine.begin() as conn:
            conn.execute(
                text("INSERT INTO api_keys VALUES ('key_1', 'k', 'h', 'p', CURRENT_TIMESTAMP, NULL)")
            )
            conn.execute(text(JOB))
        command.upgrade(config, "0005")
        with engine.begin() as conn:
            conn.execute(text(RUN), {"layer": 0})
            conn.execute(text(RUN), {"layer": 1})
        with pytest.raises(IntegrityError), engine.begin() as conn:
            conn.execute(text(RUN), {"layer": 0})
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM candidate_runs")).scalar_one() == 2
        command.downgrade(config, "0004")
        assert "candidate_runs" not in inspect(engine).get_table_names()
        with engine.connect() as conn:
            assert conn.execute(text("SELECT id FROM jobs")).scalar_one() == "job_1"
    finally:
        engine.dispose()
