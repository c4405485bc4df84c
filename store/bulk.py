"""Bulk writes for the projection: many rows per round trip, straight to the driver.

On PostgreSQL, rows go in with ``COPY ... FROM STDIN`` (psycopg), and an upsert copies into a
temporary staging table, then merges it with one ``INSERT ... SELECT ... ON CONFLICT DO UPDATE``.
On SQLite, one prepared statement runs for all rows (``executemany``, in C). Both run on the
caller's connection inside its transaction, so a batch still lands whole or not at all. A row is
a tuple (or list) of the values of the columns the caller names, in that order: nothing is looked
up by name per row. The SQL is built from those names, each checked to be one of the table's
columns, and quoted; no value is ever spliced into it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, Dialect, Table

Row = Sequence[Any]


def insert_rows(connection: Connection, table: Table, columns: Sequence[str], rows: Collection[Row]) -> None:
    """Insert ``rows``, each the values of ``columns`` in that order (the other columns take
    their SQL default)."""
    if not rows:
        return
    if connection.dialect.name == "postgresql":
        _copy(connection, table.name, table, columns, rows)
    else:
        _driver(connection).executemany(_insert_sql(table, columns), rows)


def upsert_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: Collection[Row], keys: Sequence[str]
) -> None:
    """Insert ``rows`` (as ``insert_rows``), replacing the rows that have the same ``keys``."""
    if not rows:
        return
    conflict = ", ".join(f'"{key}"' for key in keys)
    assignments = ", ".join(f'"{name}" = excluded."{name}"' for name in columns if name not in keys)
    merge = f"ON CONFLICT ({conflict}) DO UPDATE SET {assignments}"
    if connection.dialect.name != "postgresql":
        _driver(connection).executemany(f"{_insert_sql(table, columns)} {merge}", rows)
        return
    stage = f"stage_{table.name}"
    raw = _driver(connection)
    raw.execute(
        f'CREATE TEMPORARY TABLE IF NOT EXISTS "{stage}" '
        f'(LIKE "{table.name}" INCLUDING DEFAULTS) ON COMMIT DELETE ROWS'
    )
    _copy(connection, stage, table, columns, rows)
    names = _quoted(table, columns)
    raw.execute(f'INSERT INTO "{table.name}" ({names}) SELECT {names} FROM "{stage}" {merge}')


def _quoted(table: Table, columns: Sequence[str]) -> str:
    """``columns`` as SQL, each checked to be one of ``table``'s."""
    unknown = set(columns) - set(table.columns.keys())
    if unknown:
        raise ValueError(f"{table.name} has no column {sorted(unknown)}")
    return ", ".join(f'"{name}"' for name in columns)


def _insert_sql(table: Table, columns: Sequence[str]) -> str:
    return f'INSERT INTO "{table.name}" ({_quoted(table, columns)}) VALUES ({", ".join("?" * len(columns))})'


@lru_cache(maxsize=256)
def _sql_types(table: Table, columns: tuple[str, ...], dialect: Dialect) -> list[str]:
    """The columns' SQL type names, as the driver knows them ("bigint", "varchar"): told up
    front, it formats each value for its column without first guessing a type from the value,
    which took about 40% of the time of a row."""
    return [table.columns[name].type.compile(dialect=dialect).split("(")[0].lower() for name in columns]


def _driver(connection: Connection) -> Any:
    raw = connection.connection.driver_connection
    assert raw is not None
    return raw


def _copy(
    connection: Connection, target: str, table: Table, columns: Sequence[str], rows: Iterable[Row]
) -> None:
    names = _quoted(table, columns)
    with (
        _driver(connection).cursor() as cursor,
        cursor.copy(f'COPY "{target}" ({names}) FROM STDIN') as copy,
    ):
        copy.set_types(_sql_types(table, tuple(columns), connection.dialect))
        write_row = copy.write_row
        for row in rows:
            write_row(row)
