"""`INSERT … ON CONFLICT DO NOTHING` for either backend: how the store makes writes idempotent.

Two forms of the same statement:
- `ignoring_duplicates(dialect, table)`: a SQLAlchemy Core insert, for the control plane's few
  single-row writes (key ring, resources);
- `DriverInsert`: the exchange writer's form, the statement as the driver's SQL text for a fixed
  column order, executed on the DBAPI cursor of the writer's connection (`cursor.executemany(sql,
  [tuple, …])`): no SQLAlchemy parameter processing or statement bookkeeping per row or per
  statement (the writer thread holds the GIL for less). Rows are tuples already in bind form
  (`zdr.store.records.*_values`). With `returning` it also tells which rows were new
  (`DriverInsert.new_keys`). The driver's errors come as they are: the writer translates them
  (`zdr.store.failures.translated`); its transaction is still begun and committed through
  SQLAlchemy's Connection (SQLite's `BEGIN IMMEDIATE` and file check, disconnect handling).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from itertools import chain
from typing import Any

from sqlalchemy import Connection, Dialect, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

# The DBAPI drivers whose paramstyle and type adaptation `DriverInsert` is written for.
DRIVER_PLACEHOLDERS = {("sqlite", "pysqlite"): "?", ("postgresql", "psycopg"): "%s"}
# Measured (bench/store.py): psycopg 3's executemany (pipelined) costs the writer less
# CPU than one multi-row `VALUES (…), (…)` statement per batch. SQLite's executemany loops in C
# but releases the GIL around every row's step, and under load each re-acquisition waits for the
# event loop's switch interval (5 ms): a batch of 400 rows took seconds of wall time. So on
# SQLite rows go in multi-row statements of a few fixed sizes (few statement texts to cache).
SQLITE_CHUNKS = (64, 16, 4, 1)


def insert_ignoring_duplicates(conn: Connection, table: Table) -> Insert:
    """An insert into `table` that silently skips rows violating a primary key or unique key."""
    return ignoring_duplicates(conn.dialect.name, table)


@cache
def ignoring_duplicates(dialect: str, table: Table) -> Insert:
    """The same statement, built once per backend and table (the writer reuses it per batch:
    SQLAlchemy's compiled cache then keys on one object, and no statement is rebuilt per row)."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    return sqlite.insert(table).on_conflict_do_nothing()


def driver_supported(dialect: Dialect) -> bool:
    return (dialect.name, dialect.driver) in DRIVER_PLACEHOLDERS


@dataclass(frozen=True, slots=True)
class DriverInsert:
    """`INSERT INTO table (columns) VALUES (…) ON CONFLICT DO NOTHING` in the driver's SQL; on
    SQLite also with several rows per statement (`chunked`, by size in `SQLITE_CHUNKS`). Built
    with `returning` (a key column), the statement returns the key of each row it inserted, on
    both backends in multi-row statements of the `SQLITE_CHUNKS` sizes: use `new_keys`."""

    table: str
    columns: tuple[str, ...]
    sql: str
    chunked: dict[int, str] | None = None

    @classmethod
    def build(cls, dialect: Dialect, table: Table, columns: Sequence[str],
              returning: str | None = None) -> DriverInsert:
        placeholder = DRIVER_PLACEHOLDERS[(dialect.name, dialect.driver)]
        known = set(table.c.keys())
        unknown = [name for name in columns if name not in known]
        if unknown:
            raise ValueError(f"{table.name} has no column(s) {unknown}")
        quote = dialect.identifier_preparer.quote
        # Identifiers come from the schema (tables.py), quoted; values are only ever bound.
        names = ", ".join(quote(c) for c in columns)
        row = "(" + ", ".join([placeholder] * len(columns)) + ")"

        if returning is not None and returning not in known:
            raise ValueError(f"{table.name} has no column {returning}")
        tail = "" if returning is None else f" RETURNING {quote(returning)}"

        def statement(count: int) -> str:
            values = ", ".join([row] * count)
            return (f"INSERT INTO {quote(table.name)} ({names}) VALUES {values} "  # noqa: S608
                    f"ON CONFLICT DO NOTHING{tail}")

        chunked = ({size: statement(size) for size in SQLITE_CHUNKS if size > 1}
                   if dialect.name == "sqlite" or returning is not None else None)
        return cls(table.name, tuple(columns), statement(1), chunked)

    def execute(self, cursor: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """Insert `rows` with `cursor` (a DBAPI cursor of the driver it was built for)."""
        _execute(cursor, self.sql, self.chunked, rows)

    def new_keys(self, cursor: Any, rows: Sequence[tuple[Any, ...]]) -> set[Any]:
        """Insert `rows` (a statement built with `returning`); the keys of those that were new
        (a row already stored is skipped and not returned)."""
        keys: set[Any] = set()
        start = 0
        statements = {**(self.chunked or {}), 1: self.sql}
        for size in sorted(statements, reverse=True):
            sql = statements[size]
            while len(rows) - start >= size:
                cursor.execute(sql, tuple(chain.from_iterable(rows[start:start + size])))
                keys.update(row[0] for row in cursor.fetchall())
                start += size
        return keys


@dataclass(frozen=True, slots=True)
class DriverUpdate:
    """`UPDATE table SET columns… WHERE key = …` in the driver's SQL (rows: values…, key; keys
    unique within a call); on SQLite also several rows per statement (`UPDATE … FROM (VALUES …)`,
    by size in `SQLITE_CHUNKS`)."""

    sql: str
    chunked: dict[int, str] | None = None

    @classmethod
    def build(cls, dialect: Dialect, table: Table, columns: Sequence[str],
              key: str) -> DriverUpdate:
        placeholder = DRIVER_PLACEHOLDERS[(dialect.name, dialect.driver)]
        quote = dialect.identifier_preparer.quote
        for name in (*columns, key):
            if name not in table.c:
                raise ValueError(f"{table.name} has no column {name}")
        name = quote(table.name)
        sets = ", ".join(f"{quote(c)} = {placeholder}" for c in columns)
        single = f"UPDATE {name} SET {sets} WHERE {quote(key)} = {placeholder}"  # noqa: S608
        if dialect.name != "sqlite":
            return cls(single)
        # A VALUES list's columns are named column1, column2, … by SQLite.
        row = "(" + ", ".join([placeholder] * (len(columns) + 1)) + ")"
        from_sets = ", ".join(f"{quote(c)} = v.column{n}" for n, c in enumerate(columns, 1))
        where = f"{name}.{quote(key)} = v.column{len(columns) + 1}"

        def statement(count: int) -> str:
            values = ", ".join([row] * count)
            return f"UPDATE {name} SET {from_sets} FROM (VALUES {values}) AS v WHERE {where}"  # noqa: S608

        return cls(single, {size: statement(size) for size in SQLITE_CHUNKS if size > 1})

    def execute(self, cursor: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """Update with `rows` on `cursor` (a DBAPI cursor of the driver it was built for)."""
        _execute(cursor, self.sql, self.chunked, rows)


def _execute(cursor: Any, single: str, chunked: dict[int, str] | None,
             rows: Sequence[tuple[Any, ...]]) -> None:
    """All rows: in multi-row statements of the sizes `chunked` has (largest first), the rest
    with one `executemany` of the single-row statement."""
    if not rows:
        return
    start = 0
    if chunked is not None:
        for size in SQLITE_CHUNKS:
            if size not in chunked:
                continue
            while len(rows) - start >= size:
                cursor.execute(chunked[size], tuple(chain.from_iterable(
                    rows[start:start + size])))
                start += size
    if start == len(rows) - 1:
        cursor.execute(single, rows[start])
    elif start < len(rows):
        cursor.executemany(single, rows[start:] if start else rows)
