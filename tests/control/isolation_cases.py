"""The isolation table: every org-scoped action, how to prepare it, and who may do it.

Each case prepares the state in which the action would succeed for an allowed actor (as the
operator or the org's owner), then runs it through the services or the admin API. `ALLOWED`
is written out by hand from the design (§3), not derived from `zdr.control.roles`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from control_world import World
from sqlalchemy import insert

from zdr.control.roles import Actor
from zdr.store.crypto import record_aad
from zdr.store.tables import flagged_contents

Prep = dict[str, Any]
FLAGGED_CANARY = "CANARY-flagged-7f3a1c"


def _owner(world: World, org: str) -> Actor:
    return world.people["org_owner"] if org == "acme" else world.other_owner  # type: ignore[return-value]


def prep_none(world: World, org: str) -> Prep:
    return {}


def prep_deleted(world: World, org: str) -> Prep:
    world.plane.orgs.delete(world.operator, org)
    return {}


def prep_workspace(world: World, org: str) -> Prep:
    world.plane.workspaces.create(world.operator, org, "ws")
    return {}


def prep_key(world: World, org: str) -> Prep:
    return {"prefix": world.plane.keys.create(world.operator, org).prefix}


def prep_requested(world: World, org: str) -> Prep:
    world.plane.arrangements.request_zdr(_owner(world, org), org, "contract")
    return {}


def prep_approved(world: World, org: str) -> Prep:
    prep_requested(world, org)
    world.plane.arrangements.approve_zdr(world.operator, org)
    return {}


def prep_hold(world: World, org: str) -> Prep:
    return {"hold": world.plane.holds.place(world.people["legal"], org, "litigation").id}


def prep_flagged(world: World, org: str) -> Prep:
    org_id, exchange_id = world.org_ids[org], f"ex-1-{org}"
    sealed = world.plane.ctx.keyring.encrypt(
        org_id, FLAGGED_CANARY.encode(), record_aad(exchange_id, "flagged_content"),
        purpose="flagged")
    with world.engine.begin() as conn:
        record_id = conn.execute(insert(flagged_contents).values(
            exchange_id=exchange_id, org_id=org_id, nonce=sealed.nonce,
            ciphertext=sealed.ciphertext, categories=["violence"], rule_ids=["misuse"],
            created_at=world.clock(), expires_at=world.clock(),
        )).inserted_primary_key[0]
    return {"record": record_id}


def prep_user(world: World, org: str) -> Prep:
    world.plane.accounts.create_user(world.operator, "newcomer@people.example")
    return {}


@dataclass(frozen=True)
class Case:
    action: str
    prep: Callable[[World, str], Prep]
    service: Callable[[World, Actor, str, Prep], object]
    http: Callable[[str, Prep], tuple[str, str, dict[str, Any] | None]]
    allowed: frozenset[str]    # roles allowed on their own org (org roles) or any org (provider)


P = "/admin/v1"
PROVIDER_ADMIN = {"provider_admin"}
ORG_ADMINS = {"org_owner", "org_admin"}
READERS = {"provider_admin", "reviewer", "legal", "trust_safety",
           "org_owner", "org_admin", "org_member"}

CASES = [
    # see an organization and what is in force: every provider role, every member of the org
    Case("org.show", prep_none, lambda w, a, o, p: w.plane.orgs.show(a, o),
         lambda o, p: ("GET", f"{P}/orgs/{o}", None), frozenset(READERS)),
    Case("zdr.history", prep_none, lambda w, a, o, p: w.plane.arrangements.zdr_history(a, o),
         lambda o, p: ("GET", f"{P}/orgs/{o}/zdr", None), frozenset(READERS)),
    # deletion and restore: the provider admin or the org's owner
    Case("org.delete", prep_none, lambda w, a, o, p: w.plane.orgs.delete(a, o),
         lambda o, p: ("DELETE", f"{P}/orgs/{o}", None),
         frozenset({"provider_admin", "org_owner"})),
    Case("org.restore", prep_deleted, lambda w, a, o, p: w.plane.orgs.restore(a, o),
         lambda o, p: ("POST", f"{P}/orgs/{o}/restore", None),
         frozenset({"provider_admin", "org_owner"})),
    # workspaces: managed by org owners/admins (and the provider admin), read by members
    Case("workspace.create", prep_none,
         lambda w, a, o, p: w.plane.workspaces.create(a, o, "new-ws"),
         lambda o, p: ("POST", f"{P}/orgs/{o}/workspaces", {"name": "new-ws"}),
         frozenset(PROVIDER_ADMIN | ORG_ADMINS)),
    Case("workspace.list", prep_workspace, lambda w, a, o, p: w.plane.workspaces.list(a, o),
         lambda o, p: ("GET", f"{P}/orgs/{o}/workspaces", None), frozenset(READERS)),
    Case("workspace.set_retention", prep_workspace,
         lambda w, a, o, p: w.plane.workspaces.set_retention(a, o, "ws", 30),
         lambda o, p: ("PUT", f"{P}/orgs/{o}/workspaces/ws/retention",
                       {"retention_override_days": 30}),
         frozenset(PROVIDER_ADMIN | ORG_ADMINS)),
    # API keys: created/revoked by org owners/admins; listed (prefixes) by members
    Case("key.create", prep_none, lambda w, a, o, p: w.plane.keys.create(a, o),
         lambda o, p: ("POST", f"{P}/orgs/{o}/keys", {}), frozenset(PROVIDER_ADMIN | ORG_ADMINS)),
    Case("key.list", prep_key, lambda w, a, o, p: w.plane.keys.list(a, o),
         lambda o, p: ("GET", f"{P}/orgs/{o}/keys", None),
         frozenset({"provider_admin", "org_owner", "org_admin", "org_member"})),
    Case("key.revoke", prep_key, lambda w, a, o, p: w.plane.keys.revoke(a, p["prefix"]),
         lambda o, p: ("POST", f"{P}/keys/{p['prefix']}/revoke", None),
         frozenset(PROVIDER_ADMIN | ORG_ADMINS)),
    # ZDR: requested by the org's owner/admin, decided by reviewers
    Case("zdr.request", prep_none,
         lambda w, a, o, p: w.plane.arrangements.request_zdr(a, o, "contract"),
         lambda o, p: ("POST", f"{P}/orgs/{o}/zdr/request", {"reason": "contract"}),
         frozenset(PROVIDER_ADMIN | ORG_ADMINS)),
    Case("zdr.approve", prep_requested, lambda w, a, o, p: w.plane.arrangements.approve_zdr(a, o),
         lambda o, p: ("POST", f"{P}/orgs/{o}/zdr/approve", {}),
         frozenset({"provider_admin", "reviewer"})),
    Case("zdr.deny", prep_requested, lambda w, a, o, p: w.plane.arrangements.deny_zdr(a, o),
         lambda o, p: ("POST", f"{P}/orgs/{o}/zdr/deny", {"note": "no"}),
         frozenset({"provider_admin", "reviewer"})),
    Case("zdr.revoke", prep_approved, lambda w, a, o, p: w.plane.arrangements.revoke_zdr(a, o),
         lambda o, p: ("POST", f"{P}/orgs/{o}/zdr/revoke", {}),
         frozenset({"provider_admin", "reviewer"})),
    # HIPAA and retention: the org's owner/admin
    Case("hipaa.accept_baa", prep_none,
         lambda w, a, o, p: w.plane.arrangements.accept_baa(a, o, "2026-01"),
         lambda o, p: ("POST", f"{P}/orgs/{o}/hipaa", {"version": "2026-01"}),
         frozenset(PROVIDER_ADMIN | ORG_ADMINS)),
    Case("retention.set", prep_none,
         lambda w, a, o, p: w.plane.arrangements.set_retention(a, o, 90),
         lambda o, p: ("PUT", f"{P}/orgs/{o}/retention", {"days": 90}),
         frozenset(PROVIDER_ADMIN | ORG_ADMINS)),
    # holds: provider legal and trust & safety only
    Case("hold.place", prep_none, lambda w, a, o, p: w.plane.holds.place(a, o, "litigation"),
         lambda o, p: ("POST", f"{P}/holds", {"org": o, "reason": "litigation"}),
         frozenset({"legal", "trust_safety"})),
    Case("hold.release", prep_hold, lambda w, a, o, p: w.plane.holds.release(a, p["hold"]),
         lambda o, p: ("POST", f"{P}/holds/{p['hold']}/release", None),
         frozenset({"legal", "trust_safety"})),
    Case("hold.list", prep_hold, lambda w, a, o, p: w.plane.holds.list(a, o),
         lambda o, p: ("GET", f"{P}/holds?org={o}", None),
         frozenset({"provider_admin", "legal", "trust_safety"})),
    # flagged content: trust & safety only
    Case("flagged.list", prep_flagged, lambda w, a, o, p: w.plane.flagged.list(a, o),
         lambda o, p: ("GET", f"{P}/orgs/{o}/flagged", None), frozenset({"trust_safety"})),
    Case("flagged.read", prep_flagged, lambda w, a, o, p: w.plane.flagged.read(a, p["record"]),
         lambda o, p: ("GET", f"{P}/flagged/{p['record']}", None), frozenset({"trust_safety"})),
    # audit entries of one org: provider admin, legal, the org's owner/admin
    Case("audit.list", prep_none, lambda w, a, o, p: w.plane.audit.list(a, o),
         lambda o, p: ("GET", f"{P}/audit?org={o}", None),
         frozenset({"provider_admin", "legal"} | ORG_ADMINS)),
    # giving someone a role in an org: the provider admin or the org's owner
    Case("membership.grant", prep_user,
         lambda w, a, o, p: w.plane.accounts.grant(a, "newcomer@people.example", o, "org_member"),
         lambda o, p: ("POST", f"{P}/users/newcomer@people.example/memberships",
                       {"org": o, "role": "org_member"}),
         frozenset({"provider_admin", "org_owner"})),
]

# Actions that concern no single organization: only provider roles can hold them.
GLOBAL_CASES = [
    Case("org.create", prep_none, lambda w, a, o, p: w.plane.orgs.create(a, "initech", "api"),
         lambda o, p: ("POST", f"{P}/orgs", {"name": "initech", "plan": "api"}),
         frozenset(PROVIDER_ADMIN)),
    Case("audit.verify", prep_none, lambda w, a, o, p: w.plane.audit.verify(a),
         lambda o, p: ("GET", f"{P}/audit/verify", None), frozenset({"provider_admin", "legal"})),
    Case("audit.list.all", prep_none, lambda w, a, o, p: w.plane.audit.list(a),
         lambda o, p: ("GET", f"{P}/audit", None), frozenset({"provider_admin", "legal"})),
    Case("hold.list.all", prep_none, lambda w, a, o, p: w.plane.holds.list(a),
         lambda o, p: ("GET", f"{P}/holds", None),
         frozenset({"provider_admin", "legal", "trust_safety"})),
    Case("user.create", prep_none,
         lambda w, a, o, p: w.plane.accounts.create_user(a, "x@people.example",
                                                          provider_roles=["reviewer"]),
         lambda o, p: ("POST", f"{P}/users",
                       {"email": "x@people.example", "provider_roles": ["reviewer"]}),
         frozenset(PROVIDER_ADMIN)),
    Case("user.list", prep_none, lambda w, a, o, p: w.plane.accounts.list_users(a),
         lambda o, p: ("GET", f"{P}/users", None), frozenset(PROVIDER_ADMIN)),
    Case("token.create.other", prep_none,
         lambda w, a, o, p: w.plane.accounts.create_token(a, "owner@globex.example"),
         lambda o, p: ("POST", f"{P}/tokens", {"email": "owner@globex.example"}),
         frozenset(PROVIDER_ADMIN)),
]
