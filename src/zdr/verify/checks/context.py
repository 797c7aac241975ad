"""What every store check reads: the engine, the instant checked, the grace and the catalogs."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, Table, true
from sqlalchemy.engine import Engine
from sqlalchemy.sql.elements import ColumnElement

from zdr.catalog import Catalog
from zdr.control.audit import ChainKey
from zdr.store.db import read_only, utc
from zdr.verify.catalogs import CatalogLibrary

# Stored expiry may differ from `start + days` by the time between the decision and the write.
EXPIRY_TOLERANCE = timedelta(minutes=10)
# The store writes "until deleted" as this far-future date where a column must hold one.
UNTIL_DELETED_FROM = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StoreContext:
    engine: Engine
    now: datetime                 # aware, UTC
    catalog: Catalog              # the catalog in force (grace and restore periods come from it)
    library: CatalogLibrary       # every catalog version verify can find
    audit_head: str | None = None  # a head printed earlier: catches a chain cut or rewritten
    chain_key: ChainKey | None = None  # the audit chain's key (from the master key)
    signing_pems: tuple[str, ...] = ()  # public keys trusted for the audit checkpoints
    org_id: str | None = None     # only this organization's rows (a signed statement's checks)

    def scope(self, table: Table) -> ColumnElement[bool]:
        """The rows a check looks at: every row, or with `org_id` that org's only."""
        return true() if self.org_id is None else table.c.org_id == self.org_id

    @property
    def grace(self) -> timedelta:
        return timedelta(seconds=self.catalog.retention.purge_grace_seconds)

    def db_time(self, moment: datetime) -> datetime:
        """A bind value for timestamp comparisons: SQLite stores naive UTC text."""
        moment = utc(moment)
        if self.engine.dialect.name == "sqlite":
            return moment.replace(tzinfo=None)
        return moment

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A reading connection: on SQLite it never takes the write lock of a live deployment."""
        with self.engine.connect() as conn:
            yield read_only(conn)


as_utc = utc
