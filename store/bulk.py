"""Bulk writes for the projection: many rows per round trip.

On PostgreSQL, rows go in with ``COPY ... FROM STDIN`` (binary-free text COPY through psycopg),
and an upsert copies into a temporary staging table, then merges it with one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE``. Elsewhere (SQLite) one prepared statement runs
for all rows (``executemany``), which the driver does in C. Both run inside the caller's
transaction, so a batch still lands whole or not at all.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, insert
from sqlalchemy.dialects import sqlite

Row = dict[str, Any]


def insert_rows(connection: Connection, table: Table, rows: list[Row]) -> None:
    """Insert ``rows`` (dicts with every column of ``table``)."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        _copy(connection, table.name, table, rows)
    else:
        connection.execute(insert(table), rows)


def upsert_rows(connection: Connection, table: Table, rows: list[Row], keys: list[str]) -> None:
    """Insert ``rows``, replacing the rows that have the same ``keys``."""
    if not rows:
        return
    names = [column.name for column in table.columns]
    updates = [name for name in names if name not in keys]
    if connection.dialect.name == "postgresql":
        stage = f"stage_{table.name}"
        raw = connection.connection.driver_connection
        assert raw is not None
        raw.execute(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{stage}" '
            f'(LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
        )
        _copy(connection, stage, table, rows)
        columns = ", ".join(f'"{name}"' for name in names)
        assignments = ", ".join(f'"{name}" = EXCLUDED."{name}"' for name in updates)
        conflict = ", ".join(f'"{key}"' for key in keys)
        raw.execute(
            f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM "{stage}" '
            f"ON CONFLICT ({conflict}) DO UPDATE SET {assignments}"
        )
        return
    statement = sqlite.insert(table)
    excluded = {name: statement.excluded[name] for name in updates}
    connection.execute(statement.on_conflict_do_update(index_elements=keys, set_=excluded), rows)


def _copy(connection: Connection, target: str, table: Table, rows: list[Row]) -> None:
    names = [column.name for column in table.columns]
    raw = connection.connection.driver_connection
    assert raw is not None
    columns = ", ".join(f'"{name}"' for name in names)
    with raw.cursor() as cursor, cursor.copy(f'COPY "{target}" ({columns}) FROM STDIN') as copy:
        for row in rows:
            copy.write_row([row[name] for name in names])
