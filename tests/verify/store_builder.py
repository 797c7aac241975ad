"""A real store (SQLite file, migrated) filled with consistent rows, for verify to judge.

Rows are written through the store's own write path (`sink_writes.write_exchange`) from real
decisions of the policy, so a clean store is what the gateway would leave; each test then breaks
one promise.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from sink_writes import write_exchange
from zdr.catalog import default_catalog
from zdr.policy import Arrangements, OrgState, RequestFacts, decide
from zdr.ports import ClassificationRecord, ExchangeMetadata
from zdr.settings import Settings
from zdr.store.crypto import Keyring, Sealed
from zdr.store.partitions import PartitionManager
from zdr.store.tables import exchanges, organizations
from zdr.verify import Report, VerifyOptions, run_verify

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MASTER = bytes(range(32))


@dataclass
class Store:
    settings: Settings
    engine: Engine
    keyring: Keyring
    orgs: dict[str, str] = field(default_factory=dict)   # name -> id

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
        """Write an exchange the way the store would: metadata, then what its decision keeps."""
        arrangements = Arrangements(org=OrgState(
            plan="api", zdr_status="approved" if zdr else "none", org_id=self.orgs[org]))
        facts = RequestFacts(surface=surface, features=features, model="claude-sonnet-4-5")
        decision = decide(facts, arrangements, default_catalog(), started)
        assert decision.allowed, decision.error
        meta = ExchangeMetadata(
            exchange_id=f"ex_{uuid.uuid4().hex}", org_id=self.orgs[org], workspace_id=None,
            key_id=None, started_at=started, decision=decision, status_code=200, outcome="ok")
        sealed = self.seal(meta)                      # the keyring writes the org key itself
        write_exchange(self.engine, self.keyring, meta, started + timedelta(seconds=2),
                       content=sealed if with_content and decision.content_kept else None,
                       classification=self.classification(meta) if classify else None)
        return meta

    def partitions(self, table: str, *expiries: datetime) -> None:
        """PostgreSQL partitions content tables by expiry day: make the ones rows will need."""
        PartitionManager(self.engine).ensure(table, expiries)

    def seal(self, meta: ExchangeMetadata, purpose: str = "content") -> Sealed:
        aad = f"{'content' if purpose == 'content' else 'flagged_content'}|{meta.exchange_id}"
        return self.keyring.encrypt(meta.org_id, b'{"v":1}', aad.encode(),
                                    purpose)  # type: ignore[arg-type]

    def classification(self, meta: ExchangeMetadata, flagged: bool = False) -> ClassificationRecord:
        return ClassificationRecord(
            exchange_id=meta.exchange_id, org_id=meta.org_id, classifier="test",
            classifier_version="1", flagged=flagged, scores={"violence": 0.9 if flagged else 0.0},
            labels={"violence": flagged})

    def flag(self, meta: ExchangeMetadata, misuse_exception: bool = True) -> None:
        """Flagged content as the safety pipeline writes it (misuse exception)."""
        write_exchange(self.engine, self.keyring, meta, meta.started_at + timedelta(seconds=3),
                       classification=self.classification(meta, True),
                       flagged=self.seal(meta, "flagged"))
        if not misuse_exception:                      # what a broken write path would leave
            with self.engine.begin() as conn:
                conn.execute(exchanges.update().where(exchanges.c.id == meta.exchange_id)
                             .values(misuse_exception=False))

    def verify(self, **options: Any) -> Report:
        options.setdefault("at", NOW + timedelta(hours=1))
        return run_verify(self.settings, VerifyOptions(**options), self.engine)


def failing(report: Report) -> dict[str, list[str]]:
    """Check name -> the `where` of each violation."""
    found: dict[str, list[str]] = {}
    for violation in report.violations:
        found.setdefault(violation.check, []).append(violation.where)
    return found
