"""Run the Alembic migrations in ``migrations/`` against a database (a URL or an engine)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(database: str | Engine, revision: str = "head") -> None:
    """Bring the database to ``revision`` (the newest by default).

    Given an engine, the migration runs on one of its connections, so its connect arguments
    (a PostgreSQL ``search_path``, say) apply.
    """
    if isinstance(database, str):
        command.upgrade(alembic_config(database), revision)
        return
    config = alembic_config(database.url.render_as_string(hide_password=False))
    with database.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
