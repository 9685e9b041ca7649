"""Bulk writes: a frame's rows in one driver-level executemany (COPY on PostgreSQL with
psycopg), inside the caller's transaction."""

from __future__ import annotations

from datetime import date

import pandas as pd
from sqlalchemy import (
    Connection,
    Table,
)


def _columns(df: pd.DataFrame, sqlite: bool) -> dict[str, list]:
    """Column values ready for the driver: NaN/NaT as None, Python scalars, and on SQLite
    times as the text SQLAlchemy itself stores there (so comparisons stay consistent)."""
    columns: dict[str, list] = {}
    for c in df.columns:
        s = df[c]
        if pd.api.types.is_datetime64_any_dtype(s.dtype):
            if sqlite:
                columns[c] = s.dt.strftime(SQLITE_DATETIME).tolist()
            else:
                columns[c] = list(s.dt.to_pydatetime())
        elif pd.api.types.is_float_dtype(s.dtype):
            columns[c] = [None if x != x else x for x in s.tolist()]
        else:
            values = [None if x is None or x != x else x for x in s.tolist()]
            if sqlite:
                values = [x.isoformat() if isinstance(x, date) else x for x in values]
            columns[c] = values
    return columns


SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"


def records(df: pd.DataFrame) -> list[dict]:
    """Rows as dicts for a Core executemany."""
    columns = _columns(df, sqlite=False)
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def bulk_insert(conn: Connection, table: Table, df: pd.DataFrame) -> None:
    """Insert a frame's rows in one driver-level executemany (Core's per-row parameter
    processing costs more than the database work on a few hundred thousand rows)."""
    if df.empty:
        return
    sqlite = conn.dialect.name == "sqlite"
    columns = _columns(df, sqlite=sqlite)
    if conn.dialect.name == "postgresql" and conn.dialect.driver == "psycopg":
        _copy_rows(conn, table, columns)
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    prep = conn.dialect.identifier_preparer
    names = ", ".join(prep.quote(c) for c in columns)
    marks = ", ".join([mark] * len(columns))
    # Table and column names come from the schema; every value is a bound parameter.
    sql = f"INSERT INTO {prep.format_table(table)} ({names}) VALUES ({marks})"  # noqa: S608
    conn.exec_driver_sql(sql, list(zip(*columns.values(), strict=True)))


def _copy_rows(conn: Connection, table: Table, columns: dict[str, list]) -> None:
    """PostgreSQL COPY on the connection's own transaction (rolled back with it)."""
    prep = conn.dialect.identifier_preparer
    names = ", ".join(prep.quote(c) for c in columns)
    driver = conn.connection.driver_connection
    with driver.cursor() as cur:
        with cur.copy(f"COPY {prep.format_table(table)} ({names}) FROM STDIN") as copy:
            for row in zip(*columns.values(), strict=True):
                copy.write_row(row)
