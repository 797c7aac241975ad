"""SqlDirectory: key hash → Principal with the arrangements in force, or None."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, update
from store_data import NOW, make_key, make_org, make_workspace

from zdr.store.directory import SqlDirectory
from zdr.store.tables import organizations


async def test_principal_carries_org_workspace_and_key_kind(engine: Engine) -> None:
    org = make_org(engine, "acme", plan="enterprise", zdr=True, retention_days=45)
    ws = make_workspace(engine, org, override=60)
    key_id, digest = make_key(engine, org, ws, kind="enterprise_seat")
    principal = await SqlDirectory(engine).principal_for(digest)
    assert principal is not None
    assert (principal.key_id, principal.org_id, principal.org_name, principal.workspace_id) == (
        key_id, org, "acme", ws)
    arr = principal.arrangements
    assert arr.key_kind == "enterprise_seat"
    assert (arr.org.plan, arr.org.zdr_status, arr.org.retention_days, arr.org.org_id) == (
        "enterprise", "approved", 45, org)
    assert arr.org.zdr_effective_at == NOW - timedelta(days=1)
    assert arr.workspace.retention_override_days == 60 and arr.workspace.workspace_id == ws
    assert not principal.org_deleted


async def test_unknown_and_revoked_keys_resolve_to_none(engine: Engine) -> None:
    org = make_org(engine)
    ws = make_workspace(engine, org)
    _key, digest = make_key(engine, org, ws, revoked=True)
    directory = SqlDirectory(engine)
    assert await directory.principal_for(digest) is None
    assert await directory.principal_for("0" * 64) is None


async def test_deleted_org_is_flagged_and_erased_org_is_gone(engine: Engine) -> None:
    """Deleted (restorable) → org_deleted=True, so the gateway refuses; erased → None."""
    org = make_org(engine, deleted_at=NOW)
    ws = make_workspace(engine, org)
    _key, digest = make_key(engine, org, ws)
    directory = SqlDirectory(engine)
    principal = directory.principal_for_sync(digest)
    assert principal is not None and principal.org_deleted
    with engine.begin() as conn:
        conn.execute(update(organizations).values(erased_at=NOW))
    assert directory.principal_for_sync(digest) is None
