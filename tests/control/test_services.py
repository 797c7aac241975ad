"""Behaviour of the control services beyond who-may-do-what."""

from __future__ import annotations

import contextlib
from datetime import timedelta

import pytest
from control_world import World
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from zdr.errors import Conflict, InvalidRequest, NotFound, PermissionDenied
from zdr.keys import hash_secret
from zdr.store.tables import (
    admin_tokens,
    api_keys,
    contents,
    org_data_keys,
    organizations,
    users,
)


def test_zdr_of_one_org_never_touches_a_sibling_or_a_new_org(world: World) -> None:
    arr = world.plane.arrangements
    arr.request_zdr(world.people["org_owner"], "acme", "contract")
    arr.approve_zdr(world.people["reviewer"], "acme")
    world.plane.orgs.create(world.operator, "acme-sibling", "api")
    states = {o.name: o.zdr_in_force for o in world.plane.orgs.list(world.operator)}
    assert states == {"acme": True, "acme-sibling": False, "globex": False}


def test_zdr_takes_effect_at_effective_at(world: World) -> None:
    arr = world.plane.arrangements
    arr.request_zdr(world.people["org_owner"], "acme")
    later = world.clock() + timedelta(hours=2)
    view = arr.approve_zdr(world.people["reviewer"], "acme", later, "signed")
    assert view.zdr_status == "approved" and not view.zdr_in_force
    world.clock.advance(hours=2)
    assert world.plane.orgs.show(world.operator, "acme").zdr_in_force
    with pytest.raises(InvalidRequest, match="past"):
        arr.approve_zdr(world.people["reviewer"], "globex", world.clock() - timedelta(days=1))


def test_consumer_org_zdr_request_is_refused_with_the_catalog_message(world: World) -> None:
    world.plane.orgs.create(world.operator, "home", "pro")
    with pytest.raises(InvalidRequest, match="plan of this organization is pro"):
        world.plane.arrangements.request_zdr(world.operator, "home")


def test_requester_cannot_approve_even_as_a_provider_admin(world: World) -> None:
    world.plane.arrangements.request_zdr(world.operator, "acme")
    with pytest.raises(PermissionDenied, match="requester"):
        world.plane.arrangements.approve_zdr(world.operator, "acme")
    assert world.plane.arrangements.zdr_history(world.operator, "acme")[-1].status == "requested"


def test_zdr_history_records_requests_and_decisions(world: World) -> None:
    arr = world.plane.arrangements
    arr.request_zdr(world.people["org_admin"], "acme", "first")
    arr.deny_zdr(world.people["reviewer"], "acme", "missing contract")
    arr.request_zdr(world.people["org_admin"], "acme", "second")
    history = arr.zdr_history(world.people["org_member"], "acme")
    assert [(h.reason, h.status, h.note) for h in history] == [
        ("first", "denied", "missing contract"), ("second", "requested", None)]


# ------------------------------------------------------------------------------------ HIPAA
def test_hipaa_is_permanent_on_every_path(world: World) -> None:
    """After a BAA is accepted no call turns HIPAA off: not the explicit refusal, not a new
    BAA version, not ZDR changes, retention, workspaces, deletion and restore."""
    arr, op = world.plane.arrangements, world.operator
    arr.accept_baa(world.people["org_admin"], "acme", "2026-01")
    attempts = [
        lambda: arr.disable_hipaa(op, "acme"),
        lambda: arr.accept_baa(op, "acme", "2026-01"),
        lambda: arr.accept_baa(op, "acme", "2027-01"),
        lambda: arr.accept_baa(op, "acme", ""),
        lambda: arr.request_zdr(op, "acme"),
        lambda: arr.approve_zdr(world.people["reviewer"], "acme"),
        lambda: arr.revoke_zdr(world.people["reviewer"], "acme"),
        lambda: arr.set_retention(op, "acme", 60),
        lambda: world.plane.workspaces.create(op, "acme", "ws", 30),
        lambda: world.plane.orgs.delete(op, "acme"),
        lambda: world.plane.orgs.restore(op, "acme"),
    ]
    for attempt in attempts:
        with contextlib.suppress(Conflict, InvalidRequest):
            attempt()
        org = world.plane.orgs.show(op, "acme")
        assert org.hipaa is True and org.baa_version in ("2026-01", "2027-01")
    with pytest.raises(Conflict, match="cannot be turned off"):
        arr.disable_hipaa(op, "acme")


@pytest.mark.parametrize("plan", ["free", "pro", "max", "team"])
def test_a_baa_is_only_for_api_and_enterprise_orgs(world: World, plan: str) -> None:
    """The BAA does not cover Team or consumer plans: accepting one is refused, naming the plans
    that can, and nothing changes."""
    world.plane.orgs.create(world.operator, "home", plan)
    with pytest.raises(InvalidRequest, match="api or enterprise plans; the plan of this "
                                             f"organization is {plan}"):
        world.plane.arrangements.accept_baa(world.operator, "home", "2026-01")
    assert world.plane.orgs.show(world.operator, "home").hipaa is False


@pytest.mark.parametrize("plan", ["free", "pro", "max", "team"])
def test_zdr_is_only_for_api_and_enterprise_orgs(world: World, plan: str) -> None:
    world.plane.orgs.create(world.operator, "small", plan)
    with pytest.raises(InvalidRequest, match="only to organizations on the api or enterprise"):
        world.plane.arrangements.request_zdr(world.operator, "small")


def test_approving_is_refused_for_a_team_org_whatever_its_stored_status(world: World) -> None:
    """A team org left in "requested" (e.g. by an older version) cannot be approved."""
    world.plane.orgs.create(world.operator, "small", "team")
    org_id = world.plane.orgs.show(world.operator, "small").id
    with world.engine.begin() as conn:
        conn.execute(organizations.update().where(organizations.c.id == org_id)
                     .values(zdr_status="requested"))
    with pytest.raises(InvalidRequest, match="plan of this organization is team"):
        world.plane.arrangements.approve_zdr(world.people["reviewer"], "small")
    shown = world.plane.orgs.show(world.operator, "small")
    assert shown.zdr_status == "requested" and not shown.zdr_in_force


def test_enterprise_seat_keys_are_only_for_enterprise_orgs(world: World) -> None:
    keys = world.plane.keys
    world.plane.orgs.create(world.operator, "builder", "api")
    with pytest.raises(InvalidRequest, match="enterprise_seat key is available only to "
                                             "organizations on the enterprise plan"):
        keys.create(world.operator, "builder", kind="enterprise_seat")
    assert keys.list(world.operator, "builder") == []
    assert keys.create(world.operator, "acme", kind="enterprise_seat").kind == "enterprise_seat"


# -------------------------------------------------------------------------------- retention
def test_custom_retention_is_enterprise_only_and_at_least_the_minimum(world: World) -> None:
    arr = world.plane.arrangements
    with pytest.raises(InvalidRequest, match="between 30"):
        arr.set_retention(world.operator, "acme", 29)
    world.plane.orgs.create(world.operator, "small", "team")
    with pytest.raises(InvalidRequest, match="enterprise"):
        arr.set_retention(world.operator, "small", 90)
    assert arr.set_retention(world.operator, "acme", 90).retention == "90 days"


def test_shortening_retention_needs_confirmation_and_expires_older_content(world: World) -> None:
    arr, now = world.plane.arrangements, world.clock()
    org_id = world.org_ids["acme"]
    arr.set_retention(world.operator, "acme", 90)
    override = world.plane.workspaces.create(world.operator, "acme", "covered", 90)
    with world.engine.begin() as conn:
        for i, (age, workspace) in enumerate([(60, None), (10, None), (60, override.id)]):
            conn.execute(insert(contents).values(
                exchange_id=f"e{i}", org_id=org_id, workspace_id=workspace, nonce=b"n",
                ciphertext=b"c", rule_ids=[], created_at=now - timedelta(days=age),
                expires_at=now + timedelta(days=90 - age)))
    with pytest.raises(Conflict, match="confirm"):
        arr.set_retention(world.operator, "acme", 30)
    arr.set_retention(world.operator, "acme", 30, confirm_shorten=True)
    with world.engine.connect() as conn:
        rows = {r.exchange_id: r.expires_at for r in conn.execute(select(contents))}
    from zdr.store.db import utc

    assert "e0" not in rows                                            # older: gone at once
    assert utc(rows["e1"]) == now - timedelta(days=10) + timedelta(days=30)
    assert utc(rows["e2"]) == now + timedelta(days=30)                 # override keeps its own
    last = world.plane.audit.list(world.operator, after_seq=0, limit=1000)[-1]
    assert last.after == {"retention_days": 30, "older_content_deleted": True}


def test_workspace_override_bounds(world: World) -> None:
    with pytest.raises(InvalidRequest):
        world.plane.workspaces.create(world.operator, "acme", "w", 7)
    ws = world.plane.workspaces.create(world.operator, "acme", "w", 30)
    assert world.plane.workspaces.set_retention(world.operator, "acme", "w", None) \
        .retention_override_days is None
    with pytest.raises(Conflict):
        world.plane.workspaces.create(world.operator, "acme", ws.name)


# ------------------------------------------------------------------------ delete / restore
def test_delete_then_restore_within_the_window_only(world: World) -> None:
    orgs = world.plane.orgs
    deleted = orgs.delete(world.operator, "acme")
    assert deleted.restorable_until == world.clock() + timedelta(days=7)
    assert [o.name for o in orgs.list(world.operator)] == ["globex"]
    with pytest.raises(NotFound):
        world.plane.keys.create(world.operator, "acme")
    assert orgs.restore(world.operator, "acme").deleted_at is None
    orgs.delete(world.operator, "acme")
    world.clock.advance(days=7, seconds=1)
    with pytest.raises(Conflict, match="window"):
        orgs.restore(world.operator, "acme")


def test_new_org_gets_its_own_data_key(world: World) -> None:
    org = world.plane.orgs.create(world.operator, "initech", "api")
    with world.engine.connect() as conn:
        row = conn.execute(select(org_data_keys).where(org_data_keys.c.org_id == org.id)).one()
    assert row.wrapped_key is not None


# ------------------------------------------------------------------------------------ keys
def test_key_secret_is_shown_once_and_stored_as_a_hash(world: World) -> None:
    created = world.plane.keys.create(world.people["org_admin"], "acme", kind="api")
    with world.engine.connect() as conn:
        dump = "\n".join(str(tuple(r)) for table in ("api_keys", "audit_log")
                         for r in conn.exec_driver_sql(f"SELECT * FROM {table}"))
        stored = conn.execute(select(api_keys.c.key_hash)).scalar_one()
    assert created.secret not in dump and stored == hash_secret(created.secret)
    listed = world.plane.keys.list(world.people["org_member"], "acme")
    assert [k.prefix for k in listed] == [created.prefix]
    assert not hasattr(listed[0], "secret")
    world.plane.keys.revoke(world.people["org_owner"], created.prefix)
    with pytest.raises(Conflict):
        world.plane.keys.revoke(world.people["org_owner"], created.prefix)
    with pytest.raises(NotFound):
        world.plane.keys.revoke(world.operator, "sk-zdr-nothere")
    with pytest.raises(InvalidRequest):
        world.plane.keys.create(world.operator, "acme", kind="platinum")


# ------------------------------------------------------------------------------------ holds
def test_holds_have_scope_reason_who_and_when(world: World) -> None:
    holds, legal = world.plane.holds, world.people["legal"]
    world.plane.workspaces.create(world.operator, "acme", "ws")
    on_ws = holds.place(legal, "acme", "subpoena 12", "workspace", workspace="ws")
    on_org = holds.place(world.people["trust_safety"], "acme", "investigation")
    assert (on_ws.kind, on_ws.scope, on_ws.placed_by) == ("legal", "workspace", legal.user_id)
    assert on_org.kind == "safety" and on_org.placed_at == world.clock()
    with pytest.raises(InvalidRequest):
        holds.place(legal, "acme", "x", "workspace")
    with pytest.raises(NotFound):
        holds.place(legal, "acme", "x", "exchange", exchange_id="nope")
    holds.release(legal, on_ws.id)
    assert [h.id for h in holds.list(legal, "acme")] == [on_org.id]
    assert len(holds.list(legal, "acme", include_released=True)) == 2


# --------------------------------------------------------------------------- users, tokens
def test_passwords_are_argon2_hashed_and_tokens_sha256(world: World) -> None:
    accounts = world.plane.accounts
    accounts.create_user(world.operator, "Dana@Example.com", "correct horse battery",
                         org_roles={"acme": ["org_admin"]})
    token = accounts.create_token(world.operator, "dana@example.com")
    with world.engine.connect() as conn:
        pw = conn.execute(select(users.c.password_hash)
                          .where(users.c.email == "dana@example.com")).scalar_one()
        digest = conn.execute(select(admin_tokens.c.token_hash)
                              .where(admin_tokens.c.prefix == token.prefix)).scalar_one()
    assert pw.startswith("$argon2") and digest == hash_secret(token.secret)
    assert token.secret.startswith("zdra-")
    actor = accounts.actor_for_token(token.secret)
    assert actor.org_roles == {world.org_ids["acme"]: frozenset({"org_admin"})}
    assert accounts.check_password("dana@example.com", "correct horse battery").email == \
        "dana@example.com"
    from zdr.errors import AuthenticationFailed

    with pytest.raises(AuthenticationFailed):
        accounts.check_password("dana@example.com", "wrong password!!")
    with pytest.raises(AuthenticationFailed):
        accounts.actor_for_token(token.secret + "x")
    with pytest.raises(Conflict):
        accounts.create_user(world.operator, "dana@example.com")


def test_org_owner_may_add_people_only_to_its_org(world: World) -> None:
    owner = world.people["org_owner"]
    world.plane.accounts.add_member(owner, "acme", "new@acme.example", "org_member")
    with pytest.raises(NotFound):
        world.plane.accounts.add_member(owner, "globex", "new@globex.example", "org_member")
    with pytest.raises(PermissionDenied):      # accounts are made by provider admins only
        world.plane.accounts.create_user(owner, "boss@acme.example",
                                         org_roles={"acme": ["org_member"]})
    with pytest.raises(PermissionDenied):
        world.plane.accounts.create_user(owner, "boss@acme.example", provider_roles=["reviewer"])


@pytest.mark.parametrize("role", ["provider_admin", "reviewer", "org_owner", "org_member"])
def test_admin_tokens_are_revoked_by_their_owner_or_a_provider_admin(
    world: World, role: str
) -> None:
    from zdr.errors import AuthenticationFailed

    accounts, actor = world.plane.accounts, world.people[role]
    own = accounts.create_token(actor, actor.email)
    other = accounts.create_token(world.operator, "owner@globex.example")
    accounts.revoke_token(actor, own.prefix)                 # everyone may revoke their own
    with pytest.raises(AuthenticationFailed):
        accounts.actor_for_token(own.secret)
    if role == "provider_admin":
        accounts.revoke_token(actor, other.prefix)
        with pytest.raises(Conflict):
            accounts.revoke_token(actor, other.prefix)
    else:
        with pytest.raises(PermissionDenied):
            accounts.revoke_token(actor, other.prefix)
        assert accounts.actor_for_token(other.secret).email == "owner@globex.example"


def test_a_revoked_token_is_refused_by_the_api(world: World, client: TestClient) -> None:
    token = world.plane.accounts.create_token(world.operator, "reviewer@people.example")
    headers = {"Authorization": f"Bearer {token.secret}"}
    assert client.get("/admin/v1/me", headers=headers).status_code == 200
    revoked = client.post(f"/admin/v1/tokens/{token.prefix}/revoke", headers=headers)
    assert revoked.status_code == 200
    assert client.get("/admin/v1/me", headers=headers).status_code == 401
