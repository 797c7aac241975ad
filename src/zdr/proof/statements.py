"""A statement: what the deployment kept of one organization's traffic in one period, signed.

Content-free by construction: ids, names the operator chose (org, plan), counts, hashes,
instants and rule outcomes — never a request's text, never a hold's free-text reason.

    gather(conn, org_id, period, catalog) -> dict   # every part but the log and the audit head
    (zdr.control.evidence adds those in the write transaction, signs and logs it)

The parts (docs/AUDITING.md says what each proves and does not):
- `org`, `period`, `arrangements` (ZDR requests and decisions with their effective times,
  HIPAA, the retention period, workspace overrides),
- `catalog`: the catalog in force (version, SHA-256 of its file) and every version the period's
  decisions name, with its hash when the deployment still has that file,
- `exchanges`: counts by surface, ZDR state and retention label,
- `records`: per record class (content, flagged content, classifier results, feature
  artifacts) how many were written, purged, erased and are still held, over the period
  widened to whole UTC days, and how many are under a hold,
- `holds`: the org's holds standing during the period: id, kind (its reason category), scope,
- `metadata_tree`: the RFC 9162 Merkle root over the period's metadata records
  (`zdr.proof.records`), streamed: one pass, O(log n) memory.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, and_, func, or_, select

from zdr.catalog import Catalog
from zdr.proof import merkle, records
from zdr.proof.canonical import instant
from zdr.proof.records import Period
from zdr.store.db import utc
from zdr.store.holds import held
from zdr.store.tables import (
    classifier_results,
    contents,
    deletion_tallies,
    exchanges,
    feature_artifacts,
    flagged_contents,
    holds,
    organizations,
    workspaces,
    zdr_requests,
)

STATEMENT_TYPE = "zdr.statement/v1"
TREE_ALGORITHM = "RFC9162-SHA256"
RECORD_TABLES: dict[str, Table] = {
    "content": contents,
    "flagged_content": flagged_contents,
    "classifier_result": classifier_results,
    "feature_artifact": feature_artifacts,
}


def _when(value: datetime | None) -> str | None:
    return None if value is None else instant(value)


def day_window(period: Period) -> Period:
    """The period widened to whole UTC days (deletions are counted per creation day)."""
    start = datetime.combine(utc(period.since).date(), time(), UTC)
    end = datetime.combine(utc(period.until).date(), time(), UTC)
    if end < utc(period.until):
        end += timedelta(days=1)
    return Period(start, end)


def org_part(org: Any) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, "plan": org.plan,
            "deleted_at": _when(org.deleted_at), "erased_at": _when(org.erased_at)}


def arrangements(conn: Connection, org: Any, period: Period) -> dict[str, Any]:
    requests = conn.execute(
        select(zdr_requests).where(zdr_requests.c.org_id == org.id)
        .order_by(zdr_requests.c.requested_at)).all()
    overrides = conn.execute(
        select(workspaces.c.id, workspaces.c.retention_override_days)
        .where(workspaces.c.org_id == org.id, workspaces.c.retention_override_days.is_not(None))
        .order_by(workspaces.c.id)).all()
    return {
        "zdr": {"status": org.zdr_status, "effective_at": _when(org.zdr_effective_at)},
        "zdr_history": [
            {"id": r.id, "status": r.status, "requested_at": _when(r.requested_at),
             "decided_at": _when(r.decided_at), "effective_at": _when(r.effective_at)}
            for r in requests if utc(r.requested_at) < utc(period.until)],
        "hipaa": {"enabled": bool(org.hipaa), "baa_version": org.baa_version,
                  "accepted_at": _when(org.hipaa_accepted_at)},
        "retention_days": org.retention_days,
        "workspace_overrides": [{"workspace_id": w.id, "retention_days":
                                 w.retention_override_days} for w in overrides],
    }


def catalog_part(catalog: Catalog, catalog_path: Path | None, seen: Counter[str],
                 known: dict[str, str]) -> dict[str, Any]:
    """`known`: version -> SHA-256 of the catalog files the deployment still has."""
    return {
        "in_force": {"version": catalog.version, "sha256": catalog_sha256(catalog_path)},
        "seen": [{"version": version, "exchanges": count, "sha256": known.get(version)}
                 for version, count in sorted(seen.items())],
    }


def catalog_sha256(path: Path | None) -> str:
    """SHA-256 of a catalog file (the packaged default when `path` is None)."""
    if path is None:
        from importlib.resources import files

        data = files("zdr.catalog").joinpath("default.toml").read_bytes()
    else:
        data = path.read_bytes()
    return hashlib.sha256(data).hexdigest()


def tree_and_counts(conn: Connection, org_id: str, period: Period) -> dict[str, Any]:
    """One streaming pass: the Merkle root and the counts of the period's exchanges."""
    builder = merkle.RootBuilder()
    by_kind: Counter[tuple[str, str, str]] = Counter()
    versions: Counter[str] = Counter()
    add, leaf, data = builder.add, merkle.leaf_hash, records.LeafEncoder().leaf_data
    at = [records.RECORD_COLUMNS.index(name)
          for name in ("surface", "zdr_state", "retention", "catalog_version")]
    for row in records.stream_rows(conn, org_id, period):
        add(leaf(data(row)))
        by_kind[(row[at[0]], row[at[1]], row[at[2]])] += 1
        versions[row[at[3]]] += 1
    return {
        "exchanges": {
            "total": builder.size,
            "by_surface_zdr_retention": [
                {"surface": s, "zdr": z, "retention": r, "count": n}
                for (s, z, r), n in sorted(by_kind.items())],
        },
        "metadata_tree": {
            "algorithm": TREE_ALGORITHM, "record_form": records.RECORD_FORM,
            "order": records.ORDER, "leaves": builder.size, "root": builder.root().hex(),
        },
        "_versions": versions,
    }


def record_counts(conn: Connection, org_id: str, period: Period, now: datetime) -> dict[str, Any]:
    window = day_window(period)
    since, until = utc(window.since), utc(window.until)
    first_day, end_day = since.date().isoformat(), until.date().isoformat()
    counts: dict[str, Any] = {"window": window.as_json()}
    for record_class, table in RECORD_TABLES.items():
        in_window = and_(table.c.org_id == org_id, table.c.created_at >= since,
                         table.c.created_at < until)
        present = int(conn.execute(select(func.count()).where(in_window)).scalar_one())
        under_hold = int(conn.execute(select(func.count()).where(in_window, held(table)))
                         .scalar_one())
        overdue = int(conn.execute(select(func.count()).where(
            in_window, table.c.expires_at.is_not(None), table.c.expires_at <= utc(now),
            ~held(table))).scalar_one())
        gone = dict(conn.execute(
            select(deletion_tallies.c.reason, func.sum(deletion_tallies.c.count))
            .where(deletion_tallies.c.org_id == org_id,
                   deletion_tallies.c.record_class == record_class,
                   deletion_tallies.c.created_day >= first_day,
                   deletion_tallies.c.created_day < end_day)
            .group_by(deletion_tallies.c.reason)).all())
        purged = int(gone.get("purge", 0) or 0) + int(gone.get("retention", 0) or 0)
        erased = int(gone.get("erasure", 0) or 0)
        counts[record_class] = {"written": present + purged + erased, "purged": purged,
                                "erased": erased, "held": present, "under_hold": under_hold,
                                "past_expiry_unheld": overdue}
    return counts


def holds_part(conn: Connection, org_id: str, period: Period) -> list[dict[str, Any]]:
    """Holds standing at some time in the period: ids and kinds, never their reasons."""
    rows = conn.execute(select(holds).where(
        holds.c.org_id == org_id, holds.c.placed_at < utc(period.until),
        or_(holds.c.released_at.is_(None), holds.c.released_at >= utc(period.since)),
    ).order_by(holds.c.placed_at, holds.c.id)).all()
    return [{"id": h.id, "kind": h.kind, "scope": h.scope, "workspace_id": h.workspace_id,
             "exchange_id": h.exchange_id, "placed_at": _when(h.placed_at),
             "released_at": _when(h.released_at)} for h in rows]


def exchanges_per_day(conn: Connection, org_id: str, since: datetime,
                      until: datetime) -> dict[tuple[str, str], int]:
    """(UTC day, retention label) -> exchanges of the org started in [since, until)."""
    if conn.dialect.name == "postgresql":
        day = func.to_char(func.timezone("UTC", exchanges.c.started_at), "YYYY-MM-DD")
    else:
        day = func.substr(exchanges.c.started_at, 1, 10)
    rows = conn.execute(
        select(day.label("day"), exchanges.c.retention, func.count())
        .where(exchanges.c.org_id == org_id, exchanges.c.started_at >= utc(since),
               exchanges.c.started_at < utc(until))
        .group_by(day, exchanges.c.retention)).all()
    return {(str(d), str(r)): int(n) for d, r, n in rows}


def find_org(conn: Connection, ref: str) -> Any:
    """The org (live, deleted or erased) with this id or name, or None."""
    return conn.execute(select(organizations).where(
        or_(organizations.c.id == ref, organizations.c.name == ref))).first()


def gather(conn: Connection, org: Any, period: Period, catalog: Catalog,
           catalog_path: Path | None, known_catalogs: dict[str, str],
           now: datetime) -> dict[str, Any]:
    """Every part of the statement that comes from the store (read-only)."""
    streamed = tree_and_counts(conn, org.id, period)
    return {
        "type": STATEMENT_TYPE,
        "issued_at": instant(now),
        "org": org_part(org),
        "period": period.as_json(),
        "arrangements": arrangements(conn, org, period),
        "catalog": catalog_part(catalog, catalog_path, streamed.pop("_versions"),
                                known_catalogs),
        "exchanges": streamed["exchanges"],
        "records": record_counts(conn, org.id, period, now),
        "holds": holds_part(conn, org.id, period),
        "metadata_tree": streamed["metadata_tree"],
    }
