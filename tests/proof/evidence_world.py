"""A deployment for evidence tests: a home (master and signing keys), a migrated store (SQLite,
or a database on the session's PostgreSQL server), its control plane, and exchanges written the
way the store writes them (metadata, content, classifier results, artifacts)."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from zdr.catalog import default_catalog
from zdr.control.plane import ControlPlane, build_control_plane
from zdr.control.roles import Actor, system_actor
from zdr.end_users import EndUsers
from zdr.policy import Arrangements, OrgState, RequestFacts, decide
from zdr.ports import ClassificationRecord, ExchangeMetadata
from zdr.settings import Settings, load_settings
from zdr.store.crypto import Keyring, derived_key
from zdr.store.db import engine_for, migrate
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

MASTER = bytes(range(32))
START = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class World:
    settings: Settings
    engine: Engine
    plane: ControlPlane
    keyring: Keyring
    operator: Actor = field(default_factory=system_actor)
    orgs: dict[str, str] = field(default_factory=dict)
    now: datetime = START - timedelta(days=31)      # the control plane's clock; tests move it

    @classmethod
    def make(cls, home: Path, db_url: str | None = None) -> World:
        env = {"ZDR_MASTER_KEY": base64.b64encode(MASTER).decode()}
        if db_url:
            env["ZDR_DB_URL"] = db_url
        home.mkdir(parents=True, exist_ok=True)
        settings = load_settings(env=env, home=home)
        engine = engine_for(settings.database_url)
        migrate(engine)
        plane = build_control_plane(settings, engine)
        world = cls(settings, engine, plane, Keyring(engine, MASTER))
        plane.ctx.clock = lambda: world.now
        return world

    def org(self, name: str, *, zdr: bool = False) -> str:
        org = self.plane.orgs.create(self.operator, name, "api")
        if zdr:
            reviewer = f"reviewer-{uuid.uuid4().hex[:6]}@provider.example"
            self.plane.accounts.create_user(self.operator, reviewer, provider_roles=["reviewer"])
            self.plane.arrangements.request_zdr(self.operator, name, "contract")
            self.plane.arrangements.approve_zdr(
                self.plane.accounts.actor_for_email(reviewer), name, None, None)
        self.orgs[name] = org.id
        return org.id

    def end_user(self, user_id: str) -> str:
        return EndUsers(derived_key(MASTER, "end-users")).hash(user_id)

    def exchange(
        self, org: str, *, zdr: bool = False, started: datetime = START,
        user_id: str | None = None, features: frozenset[str] = frozenset(),
        flagged: bool = False, surface: str = "messages",
    ) -> ExchangeMetadata:
        arrangements = Arrangements(org=OrgState(
            plan="api", zdr_status="approved" if zdr else "none",
            zdr_effective_at=START - timedelta(days=30) if zdr else None,
            org_id=self.orgs[org]))
        decision = decide(RequestFacts(surface=surface, features=features,
                                       model="claude-sonnet-4-5"),
                          arrangements, default_catalog(), started)
        assert decision.allowed, decision.error
        meta = ExchangeMetadata(
            exchange_id=f"req_{uuid.uuid4().hex}", org_id=self.orgs[org], workspace_id=None,
            key_id=None, started_at=started, decision=decision, status_code=200, outcome="ok",
            input_tokens=12, output_tokens=7, duration_ms=40, ttfb_ms=9,
            end_user=None if user_id is None else self.end_user(user_id))
        written = started + timedelta(seconds=1)
        partitions = PartitionManager(self.engine)
        content = flagged_content = None
        result = ClassificationRecord(
            exchange_id=meta.exchange_id, org_id=meta.org_id, classifier="test",
            classifier_version="1", flagged=flagged,
            scores={"violence": 0.9 if flagged else 0.0}, labels={"violence": flagged})
        if decision.content_kept:     # sealed first: the key ring may write the org's key
            content = content_row(meta, self.keyring.encrypt(
                meta.org_id, b'{"v":1}', f"content|{meta.exchange_id}".encode()), written)
            partitions.ensure("contents", [content["expires_at"]])
        if flagged:
            flagged_content = flagged_row(meta, result, self.keyring.encrypt(
                meta.org_id, b'{"v":1}', f"flagged_content|{meta.exchange_id}".encode(),
                "flagged"), written)
            partitions.ensure("flagged_contents", [flagged_content["expires_at"]])
        with self.engine.begin() as conn:
            conn.execute(exchanges.insert().values(**exchange_row(meta)))
            rows = artifact_rows(meta, written)
            if rows:
                conn.execute(feature_artifacts.insert(), rows)
            if content is not None:
                conn.execute(contents.insert().values(**content))
            conn.execute(classifier_results.insert().values(
                **classification_row(meta, result, written)))
            if flagged_content is not None:
                conn.execute(flagged_contents.insert().values(**flagged_content))
                conn.execute(exchanges.update().where(exchanges.c.id == meta.exchange_id)
                             .values(misuse_exception=True))
        return meta

    def statement(self, org: str, since: datetime = START - timedelta(hours=1),
                  until: datetime = START + timedelta(days=1)) -> Any:
        self.now = max(self.now, until + timedelta(minutes=5))
        return self.plane.evidence.issue_statement(self.operator, org, since, until)

    def close(self) -> None:
        self.engine.dispose()
