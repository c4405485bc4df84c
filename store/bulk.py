"""Bulk writes for the projection: many rows per round trip, straight to the driver.

On PostgreSQL, rows go in with ``COPY ... FROM STDIN`` (psycopg), and an upsert copies into a
temporary staging table, then merges it with one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``.
On SQLite, one prepared statement runs for all rows (``executemany``, in C). Both run on the
caller's connection inside its transaction, so a batch still lands whole or not at all. The SQL
is built from the table's own columns, quoted; no value is ever spliced into it.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table

Row = dict[str, Any]


def insert_rows(connection: Connection, table: Table, rows: list[Row]) -> None:
    """Insert ``rows`` (dicts with every column of ``table``)."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        _copy(connection, table.name, table, rows)
    else:
        _execute_many(connection, _insert_sql(table), table, rows)


def upsert_rows(connection: Connection, table: Table, rows: list[Row], keys: list[str]) -> None:
    """Insert ``rows``, replacing the rows that have the same ``keys``."""
    if not rows:
        return
    names = _names(table)
    conflict = ", ".join(f'"{key}"' for key in keys)
    assignments = ", ".join(f'"{name}" = excluded."{name}"' for name in names if name not in keys)
    merge = f"ON CONFLICT ({conflict}) DO UPDATE SET {assignments}"
    if connection.dialect.name != "postgresql":
        _execute_many(connection, f"{_insert_sql(table)} {merge}", table, rows)
        return
    stage = f"stage_{table.name}"
    raw = _driver(connection)
    raw.execute(
        f'CREATE TEMPORARY TABLE IF NOT EXISTS "{stage}" '
        f'(LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
    )
    _copy(connection, stage, table, rows)
    columns = ", ".join(f'"{name}"' for name in names)
    raw.execute(f'INSERT INTO "{table.name}" ({columns}) SELECT {columns} FROM "{stage}" {merge}')


def _names(table: Table) -> list[str]:
    return [column.name for column in table.columns]


def _insert_sql(table: Table) -> str:
    names = _names(table)
    columns = ", ".join(f'"{name}"' for name in names)
    return f'INSERT INTO "{table.name}" ({columns}) VALUES ({", ".join("?" * len(names))})'


def _driver(connection: Connection) -> Any:
    raw = connection.connection.driver_connection
    assert raw is not None
    return raw


def _execute_many(connection: Connection, sql: str, table: Table, rows: list[Row]) -> None:
    values = itemgetter(*_names(table))
    _driver(connection).executemany(sql, [values(row) for row in rows])


def _copy(connection: Connection, target: str, table: Table, rows: list[Row]) -> None:
    names = _names(table)
    columns = ", ".join(f'"{name}"' for name in names)
    values = itemgetter(*names)
    with (
        _driver(connection).cursor() as cursor,
        cursor.copy(f'COPY "{target}" ({columns}) FROM STDIN') as copy,
    ):
        for row in rows:
            copy.write_row(values(row))
