"""Alembic environment: the URL comes from the settings unless the caller passes one."""

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

import secateur.kernel.webhooks.models  # noqa: F401  (puts the webhook tables in Base.metadata)
from secateur.kernel.db import make_engine
from secateur.kernel.models import Base
from secateur.kernel.settings import get_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _url() -> str:
    """An explicit `sqlalchemy.url` (set by secateur.kernel.migrate or -x) wins over the settings."""
    return config.get_main_option("sqlalchemy.url") or get_settings().sqlalchemy_url


def _configure(connection: Connection) -> None:
    # Batch mode lets ALTERs work on SQLite, which cannot alter most constraints in place.
    """Configure the migration context on `connection`."""
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    """Run against a live connection (a caller-supplied one, or a fresh engine)."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(_url())
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
