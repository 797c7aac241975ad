"""`INSERT … ON CONFLICT DO NOTHING` for either backend: how the store makes writes idempotent."""

from __future__ import annotations

from functools import cache

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


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
