"""Opening the SQL store: one place that knows each dialect's connection settings.

SQLite (the embedded default) runs in WAL mode, so the settlement worker and the API can read
while the projector writes, with ``synchronous=NORMAL``: a commit is not fsynced on its own, which
is safe here because every projection can be rebuilt from the journal, and settlement's own
records are written with their own checks. A busy database is waited on for 10 s, not failed.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event


def open_database(url: str, **options: Any) -> Engine:
    """An SQLAlchemy engine for ``url`` with bluebook's settings for its dialect."""
    database = create_engine(url, **options)
    if database.dialect.name == "sqlite":
        event.listen(database, "connect", _sqlite_settings)
    return database


def _sqlite_settings(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()
