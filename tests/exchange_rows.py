"""Exchanges written into a real store the way the store writes them, for tests that judge a
store (`zdr verify`, signed statements and receipts).

Rows come from the store's own row builders (`zdr.store.records`) and real decisions of the
policy: metadata, then what the decision keeps (content sealed with the org's data key, feature
artifacts, the classifier's result), and flagged content as the safety pipeline writes it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from zdr.catalog import default_catalog
from zdr.policy import Arrangements, OrgState, RequestFacts, decide
from zdr.ports import ClassificationRecord, ExchangeMetadata
from zdr.store.crypto import Keyring, Sealed
from zdr.store.partitions import PartitionManager
from zdr.store.records import (
    artifact_rows,
    classification_row,
    content_row,
    exchange_row,
    flagged_row,
)
from zdr.store.tables import (
    classifier_results,
    contents,
    exchanges,
    feature_artifacts,
    flagged_contents,
)

WRITTEN_AFTER = timedelta(seconds=2)        # the store writes an exchange after it started
FLAGGED_AFTER = timedelta(seconds=3)        # and the safety pipeline after that
ZDR_SINCE = timedelta(days=30)              # how long before an exchange a ZDR org's ZDR began


@dataclass
class ExchangeRows:
    engine: Engine
    keyring: Keyring

    def write(
        self, org_id: str, started: datetime, *, zdr: bool = False,
        features: frozenset[str] = frozenset(), surface: str = "messages",
        end_user: str | None = None, with_content: bool = True, classify: bool = True,
        flagged: bool = False,
    ) -> ExchangeMetadata:
        """Write an exchange the way the store would: metadata, then what its decision keeps;
        `flagged`: and its flagged content (`flag`)."""
        arrangements = Arrangements(org=OrgState(
            plan="api", zdr_status="approved" if zdr else "none",
            zdr_effective_at=started - ZDR_SINCE if zdr else None, org_id=org_id))
        facts = RequestFacts(surface=surface, features=features, model="claude-sonnet-4-5")
        decision = decide(facts, arrangements, default_catalog(), started)
        assert decision.allowed, decision.error
        meta = ExchangeMetadata(
            exchange_id=f"req_{uuid.uuid4().hex}", org_id=org_id, workspace_id=None,
            key_id=None, started_at=started, decision=decision, status_code=200, outcome="ok",
            input_tokens=12, output_tokens=7, duration_ms=40, ttfb_ms=9, end_user=end_user)
        written = started + WRITTEN_AFTER
        sealed = self.seal(meta)                      # the keyring writes the org key itself
        content = content_row(meta, sealed, written) \
            if with_content and decision.content_kept else None
        if content is not None:
            self.partitions("contents", content["expires_at"])
        with self.engine.begin() as conn:
            conn.execute(exchanges.insert().values(**exchange_row(meta)))
            rows = artifact_rows(meta, written)
            if rows:
                conn.execute(feature_artifacts.insert(), rows)
            if content is not None:
                conn.execute(contents.insert().values(**content))
            if classify and decision.keep["classifier_result"].kept:
                conn.execute(classifier_results.insert().values(
                    **classification_row(meta, self.classification(meta, flagged), written)))
        if flagged:
            self.flag(meta)
        return meta

    def flag(self, meta: ExchangeMetadata, misuse_exception: bool = True) -> None:
        """Flagged content as the safety pipeline writes it (misuse exception)."""
        sealed = self.seal(meta, "flagged")
        row = flagged_row(meta, self.classification(meta, True), sealed,
                          meta.started_at + FLAGGED_AFTER)
        self.partitions("flagged_contents", row["expires_at"])
        with self.engine.begin() as conn:
            conn.execute(flagged_contents.insert().values(**row))
            conn.execute(exchanges.update().where(exchanges.c.id == meta.exchange_id)
                         .values(misuse_exception=misuse_exception))

    def partitions(self, table: str, *expiries: datetime) -> None:
        """PostgreSQL partitions content tables by expiry day: make the ones rows will need."""
        PartitionManager(self.engine).ensure(table, expiries)

    def seal(self, meta: ExchangeMetadata, purpose: str = "content") -> Sealed:
        aad = f"{'content' if purpose == 'content' else 'flagged_content'}|{meta.exchange_id}"
        return self.keyring.encrypt(meta.org_id, b'{"v":1}', aad.encode(),
                                    purpose)  # type: ignore[arg-type]

    @staticmethod
    def classification(meta: ExchangeMetadata, flagged: bool = False) -> ClassificationRecord:
        return ClassificationRecord(
            exchange_id=meta.exchange_id, org_id=meta.org_id, classifier="test",
            classifier_version="1", flagged=flagged, scores={"violence": 0.9 if flagged else 0.0},
            labels={"violence": flagged})
