"""A deployment for evidence tests: a home (master and signing keys), a migrated store (SQLite,
or a database on the session's PostgreSQL server), its control plane, and exchanges written the
way the store writes them (metadata, content, classifier results, artifacts: `exchange_rows`)."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from exchange_rows import ExchangeRows
from zdr.control.plane import ControlPlane, build_control_plane
from zdr.control.roles import Actor, system_actor
from zdr.end_users import EndUsers
from zdr.ports import ExchangeMetadata
from zdr.settings import Settings, load_settings
from zdr.store.crypto import Keyring, derived_key
from zdr.store.db import engine_for, migrate

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
        """An exchange of the org named `org`, written the way the store writes it."""
        return ExchangeRows(self.engine, self.keyring).write(
            self.orgs[org], started, zdr=zdr, features=features, surface=surface,
            end_user=None if user_id is None else self.end_user(user_id), flagged=flagged)

    def statement(self, org: str, since: datetime = START - timedelta(hours=1),
                  until: datetime = START + timedelta(days=1)) -> Any:
        self.now = max(self.now, until + timedelta(minutes=5))
        return self.plane.evidence.issue_statement(self.operator, org, since, until)

    def close(self) -> None:
        self.engine.dispose()
