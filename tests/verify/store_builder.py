"""A real store (SQLite file, migrated) filled with consistent rows, for verify to judge.

Rows are written with the store's own row builders (`zdr.store.records`) from real decisions of the
policy, so a clean store is what the gateway would leave; each test then breaks one promise.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from exchange_rows import ExchangeRows
from zdr.ports import ExchangeMetadata
from zdr.settings import Settings
from zdr.store.crypto import Keyring
from zdr.store.tables import organizations
from zdr.verify import Report, VerifyOptions, run_verify

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MASTER = bytes(range(32))


class Store(ExchangeRows):
    def __init__(self, settings: Settings, engine: Engine, keyring: Keyring) -> None:
        super().__init__(engine, keyring)
        self.settings = settings
        self.orgs: dict[str, str] = {}        # name -> id

    def org(self, name: str, plan: str = "api", zdr: bool = False, **extra: Any) -> str:
        org_id = str(uuid.uuid4())
        with self.engine.begin() as conn:
            conn.execute(organizations.insert().values(
                id=org_id, name=name, plan=plan, created_at=NOW - timedelta(days=90),
                zdr_status="approved" if zdr else "none",
                zdr_effective_at=NOW - timedelta(days=60) if zdr else None, hipaa=False,
                **extra))
        self.orgs[name] = org_id
        return org_id

    def exchange(
        self, org: str, *, zdr: bool = False, features: frozenset[str] = frozenset(),
        surface: str = "messages", started: datetime = NOW, with_content: bool = True,
        classify: bool = True,
    ) -> ExchangeMetadata:
        """Write an exchange of the org named `org` the way the store would."""
        return self.write(self.orgs[org], started, zdr=zdr, features=features, surface=surface,
                          with_content=with_content, classify=classify)

    def verify(self, **options: Any) -> Report:
        options.setdefault("at", NOW + timedelta(hours=1))
        return run_verify(self.settings, VerifyOptions(**options), self.engine)


def failing(report: Report) -> dict[str, list[str]]:
    """Check name -> the `where` of each violation."""
    found: dict[str, list[str]] = {}
    for violation in report.violations:
        found.setdefault(violation.check, []).append(violation.where)
    return found
