"""Crypto-shredding done right (docs/DESIGN.md §2 rule 7, `zdr.store.crypto`).

- no `contents` row of an org whose content key is destroyed (the rows go with the key);
- no `flagged_contents` row whose org's safety key is destroyed;
- a destroyed key keeps no key material; an erased org has its content key destroyed;
- a deleted org's content is gone once its restore window and the grace have passed, unless held.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import ColumnElement, LargeBinary, Table, func, not_, select

from zdr.store.holds import held
from zdr.store.tables import contents, flagged_contents, org_data_keys, organizations
from zdr.verify.checks.context import StoreContext, as_utc
from zdr.verify.report import CheckResult

KEYS: tuple[tuple[Table, str, str, str], ...] = (
    (contents, "destroyed_at", "wrapped_key", "content key"),
    (flagged_contents, "safety_destroyed_at", "wrapped_safety_key", "safety key"),
)


def _has_bytes(column: ColumnElement[bytes]) -> ColumnElement[bool]:
    return column.is_not(None) & (func.length(column) > 0)


def check_erasure(ctx: StoreContext) -> CheckResult:
    result = CheckResult("erasure", "No content left under destroyed keys or erased orgs")
    with ctx.connect() as conn:
        result.examined += conn.execute(
            select(func.count()).select_from(org_data_keys).where(ctx.scope(org_data_keys))
        ).scalar_one()
        for table, destroyed_at, wrapped, key_name in KEYS:
            destroyed = org_data_keys.c[destroyed_at].is_not(None)
            query = select(table.c.id, table.c.org_id).select_from(
                table.join(org_data_keys, org_data_keys.c.org_id == table.c.org_id)
            ).where(destroyed, ctx.scope(table))
            for row in conn.execute(query):
                result.add(f"{table.name}#{row.id}",
                           f"row of org {row.org_id} left after its {key_name} was destroyed")
            material = org_data_keys.c[wrapped]
            assert isinstance(material.type, LargeBinary)
            for key in conn.execute(select(org_data_keys.c.org_id).where(
                    destroyed, _has_bytes(material), ctx.scope(org_data_keys))):
                result.add(f"org_data_keys#{key.org_id}",
                           f"destroyed {key_name} still holds key material")

        query = select(organizations.c.id).select_from(
            organizations.join(org_data_keys, org_data_keys.c.org_id == organizations.c.id)
        ).where(organizations.c.erased_at.is_not(None), org_data_keys.c.destroyed_at.is_(None),
                ctx.scope(org_data_keys))
        for org in conn.execute(query):
            result.add(f"organizations#{org.id}", "org marked erased but its content key is intact")

        window = timedelta(days=ctx.catalog.retention.deletion_restore_days) + ctx.grace
        cutoff = ctx.db_time(ctx.now - window)
        query = select(contents.c.id, contents.c.org_id, organizations.c.deleted_at).select_from(
            contents.join(organizations, organizations.c.id == contents.c.org_id)
        ).where(organizations.c.deleted_at.is_not(None), organizations.c.deleted_at < cutoff,
                not_(held(contents)), ctx.scope(contents))
        for deleted in conn.execute(query):
            when = as_utc(deleted.deleted_at)
            result.add(f"contents#{deleted.id}",
                       f"content of org {deleted.org_id}, deleted {when:%Y-%m-%d}, "
                       "outlived the restore window")
    return result
