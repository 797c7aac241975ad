"""Emptying a store between tests (a module of its own: `conftest` is not importable by name when
pytest collects several folders that each have one)."""

from __future__ import annotations

from sqlalchemy import Engine, text

from zdr.store.partitions import PARTITIONED_TABLES, partitions_of
from zdr.store.tables import metadata


def reset(engine: Engine) -> None:
    """Empty every table (children first); drop the content partitions on PostgreSQL."""
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
        if conn.dialect.name == "postgresql":
            for parent in PARTITIONED_TABLES:
                for name in partitions_of(conn, parent).values():
                    conn.execute(text(f'DROP TABLE "{name}"'))
