"""Revision 0004 adds the webhook tables on top of the revision before it and removes them again."""

from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from secateur.kernel.db import make_engine
from secateur.kernel.migrate import alembic_config

WEBHOOK_TABLES = {"webhook_endpoints", "webhook_deliveries", "webhook_attempts"}


def test_0004_upgrades_from_its_parent_and_downgrades(empty_database_url: str) -> None:
    """The parent has no webhook tables; 0004 creates all three; downgrading drops exactly them."""
    config = alembic_config(empty_database_url)
    parent = ScriptDirectory.from_config(config).get_revision("0004").down_revision
    assert isinstance(parent, str)
    engine = make_engine(empty_database_url)
    try:
        command.upgrade(config, parent)
        assert not WEBHOOK_TABLES & set(inspect(engine).get_table_names())
        command.upgrade(config, "0004")
        tables = set(inspect(engine).get_table_names())
        assert tables >= WEBHOOK_TABLES | {"jobs", "events"}
        assert {i["name"] for i in inspect(engine).get_indexes("webhook_deliveries")} == {
            "ix_webhook_deliveries_endpoint_created",
            "ix_webhook_deliveries_status_next",
        }
        command.downgrade(config, parent)
        assert not WEBHOOK_TABLES & set(inspect(engine).get_table_names())
        assert "jobs" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
