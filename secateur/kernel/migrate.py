"""Apply the Alembic migrations programmatically (prestart step, tests)."""

from pathlib import Path

from alembic import command
from alembic.config import Config

from secateur.kernel.settings import get_settings

_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config for this repository's migrations, pointing at `url` (default: the settings)."""
    ini = _ROOT / "alembic.ini"
    config = Config(str(ini)) if ini.is_file() else Config()
    config.set_main_option("script_location", str(_ROOT / "migrations"))
    # '%' is Alembic's interpolation character; escape it so URLs with encoded passwords survive.
    config.set_main_option("sqlalchemy.url", (url or get_settings().sqlalchemy_url).replace("%", "%%"))
    # Leave the host application's logging alone.
    config.attributes["configure_logger"] = False
    return config


def upgrade_to_head(url: str | None = None) -> None:
    """Bring the database at `url` (default: the configured one) to the newest revision."""
    settings = get_settings()
    if url is None and settings.sqlalchemy_url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")
