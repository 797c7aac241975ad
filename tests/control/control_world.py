"""The control-plane test world: a settable clock, two orgs, a user and admin token per role."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, event

from zdr.catalog import default_catalog
from zdr.control.audit import ChainKey
from zdr.control.context import ControlContext
from zdr.control.plane import ControlPlane
from zdr.control.roles import ALL_ROLES, PROVIDER_ROLES, Actor, system_actor
from zdr.proof.signing import Signer
from zdr.store.crypto import Keyring, derived_key
from zdr.store.db import engine_for

MASTER = bytes(range(32))
START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
OWN, OTHER = "acme", "globex"


class Clock:
    """A settable clock: tests move time instead of sleeping."""

    def __init__(self, now: datetime = START) -> None:
        self.current = now

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)


@dataclass
class World:
    plane: ControlPlane
    clock: Clock
    engine: Engine
    operator: Actor
    people: dict[str, Actor] = field(default_factory=dict)    # role -> actor (org roles in acme)
    tokens: dict[str, str] = field(default_factory=dict)      # role -> admin token
    other_owner: Actor | None = None                          # org_owner of globex
    org_ids: dict[str, str] = field(default_factory=dict)

    def actor(self, role: str) -> Actor:
        return self.plane.accounts.actor_for_email(email_for(role))


def email_for(role: str) -> str:
    return f"{role.replace('_', '-')}@people.example"


def fast_engine(path: object) -> Engine:
    """The store's SQLite engine, without fsync: test databases need not survive a power cut."""
    engine = engine_for(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _no_fsync(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA synchronous = OFF")

    return engine


CHAIN_KEY = ChainKey.from_master_key(MASTER)
SIGNER = Signer(Ed25519PrivateKey.from_private_bytes(bytes(range(100, 132))), "test")


def make_plane(engine: Engine, clock: Clock) -> ControlPlane:
    return ControlPlane(ControlContext(engine=engine, catalog=default_catalog(), clock=clock,
                                       keyring=Keyring(engine, MASTER), chain_key=CHAIN_KEY,
                                       signer=SIGNER,
                                       end_user_key=derived_key(MASTER, "end-users")))


def populate(plane: ControlPlane) -> dict[str, str]:
    """Orgs acme and globex (enterprise), a user per role, an admin token each."""
    operator = system_actor()
    for name in (OWN, OTHER):
        plane.orgs.create(operator, name, "enterprise")
    tokens: dict[str, str] = {}
    for role in ALL_ROLES:
        if role in PROVIDER_ROLES:
            plane.accounts.create_user(operator, email_for(role), provider_roles=[role])
        else:
            plane.accounts.create_user(operator, email_for(role), org_roles={OWN: [role]})
        tokens[role] = plane.accounts.create_token(operator, email_for(role)).secret
    plane.accounts.create_user(operator, "owner@globex.example", org_roles={OTHER: ["org_owner"]})
    return tokens


