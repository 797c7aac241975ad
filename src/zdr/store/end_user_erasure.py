"""Erasing one end user of an organization: the exchanges whose metadata names that end user
(`exchanges.end_user`, a keyed hash of the client's `metadata.user_id`).

`erase_end_user(engine, org_id, end_users, now)` (`end_users`: the keyed hashes that name the
person: `zdr.end_users.EndUsers.candidates`):
1. deletes their content and feature-artifact records not under a hold (counted in the
   deletion tallies, reason `erasure`);
2. removes the end-user link from their metadata records not under a hold (the rows stay:
   ids, counts and timings, no content; they can no longer be found by end user);
3. reports what stays and why: content and metadata under a hold, flagged content (the misuse
   exception, kept under its own key and period), classifier results (scores and labels, no
   content), and the audit log.

Other end users' records, and the org's records without an end user, are untouched. Batches of
`BATCH` rows per transaction, like purge.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, Table, and_, delete, func, not_, select, update

from zdr.store import tallies
from zdr.store.db import utc
from zdr.store.holds import held
from zdr.store.tables import (
    classifier_results,
    contents,
    exchanges,
    feature_artifacts,
    flagged_contents,
)

BATCH = 1000
DELETED: dict[str, Table] = {"content": contents, "feature_artifact": feature_artifacts}


@dataclass
class EndUserErasure:
    org_id: str
    end_users: list[str]
    exchanges: int = 0
    deleted: dict[str, int] = field(default_factory=dict)
    unlinked_metadata: int = 0
    kept: dict[str, int] = field(default_factory=dict)    # record class -> count left
    held: dict[str, int] = field(default_factory=dict)    # of those, under a hold

    def as_json(self) -> dict[str, Any]:
        return {"org_id": self.org_id, "exchanges": self.exchanges, "deleted": self.deleted,
                "unlinked_metadata": self.unlinked_metadata, "kept": self.kept,
                "held": self.held}


def _theirs(org_id: str, end_users: list[str]) -> Any:
    return select(exchanges.c.id).where(exchanges.c.org_id == org_id,
                                        exchanges.c.end_user.in_(end_users))


def erase_end_user(engine: Engine, org_id: str, end_users: list[str],
                   now: datetime) -> EndUserErasure:
    now = utc(now)
    report = EndUserErasure(org_id, sorted(set(end_users)))
    named = report.end_users
    with engine.connect() as conn:
        report.exchanges = int(conn.execute(select(func.count()).where(
            exchanges.c.org_id == org_id, exchanges.c.end_user.in_(named))).scalar_one())
    for record_class, table in DELETED.items():
        condition = and_(table.c.org_id == org_id,
                         table.c.exchange_id.in_(_theirs(org_id, named)), not_(held(table)))
        total = 0
        while True:
            batch = select(table.c.id).where(condition).limit(BATCH).scalar_subquery()
            with engine.begin() as conn:
                gone = conn.execute(delete(table).where(table.c.id.in_(batch))
                                    .returning(table.c.org_id, table.c.created_at)).all()
                total += tallies.add(conn, record_class, "erasure",
                                     [tuple(row) for row in gone], now)
            if len(gone) < BATCH:
                break
        report.deleted[record_class] = total
    with engine.begin() as conn:
        theirs = and_(exchanges.c.org_id == org_id, exchanges.c.end_user.in_(named))
        report.held["metadata"] = int(conn.execute(
            select(func.count()).where(theirs, held(exchanges))).scalar_one())
        for record_class, table in (("content", contents), ("flagged_content", flagged_contents),
                                    ("classifier_result", classifier_results),
                                    ("feature_artifact", feature_artifacts)):
            left = and_(table.c.org_id == org_id,
                        table.c.exchange_id.in_(_theirs(org_id, named)))
            report.kept[record_class] = int(conn.execute(
                select(func.count()).where(left)).scalar_one())
            report.held[record_class] = int(conn.execute(
                select(func.count()).where(left, held(table))).scalar_one())
        # last: once unlinked, a record is no longer found by end user
        report.unlinked_metadata = conn.execute(
            update(exchanges).where(theirs, not_(held(exchanges))).values(end_user=None)
        ).rowcount
    report.kept["metadata"] = report.unlinked_metadata + report.held["metadata"]
    return report
