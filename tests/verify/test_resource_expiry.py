"""`zdr verify`'s expiry check covers the ownership records of upstream batches
(`upstream_resources`): one past its period and the grace, with no hold, is a violation; a file's
(until deleted, no expiry) and a current batch's are not; a hold covers an expired one."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from store_builder import NOW, Store, failing

from zdr.store.tables import holds, upstream_resources


def add_resource(store: Store, org_id: str, kind: str, expires_in_days: float | None) -> None:
    with store.engine.begin() as conn:
        conn.execute(upstream_resources.insert().values(
            kind=kind, resource_id=f"{kind}_{uuid.uuid4().hex}", org_id=org_id,
            workspace_id=None, exchange_id=f"req_{uuid.uuid4().hex[:20]}",
            created_at=NOW - timedelta(days=40),
            expires_at=None if expires_in_days is None
            else NOW + timedelta(days=expires_in_days)))


@pytest.mark.parametrize("kind, expires_in_days, caught", [
    ("batch", -11, True),      # 29-day batch created 40 days ago: overdue
    ("batch", 5, False),       # still within its period
    ("file", None, False),     # files: until deleted
])
def test_overdue_ownership_records_are_caught(store: Store, kind: str,
                                              expires_in_days: float | None,
                                              caught: bool) -> None:
    org = store.org("acme")
    add_resource(store, org, kind, expires_in_days)
    found = failing(store.verify())
    assert (found.get("expiry") == ["upstream_resources#1"]) is caught
    assert ("expiry" in found) is caught


def test_a_hold_covers_an_overdue_ownership_record(store: Store) -> None:
    org = store.org("acme")
    add_resource(store, org, "batch", -11)
    with store.engine.begin() as conn:
        conn.execute(holds.insert().values(
            id=str(uuid.uuid4()), kind="legal", scope="org", org_id=org, reason="case",
            placed_by="legal-1", placed_at=NOW - timedelta(days=1)))
    assert "expiry" not in failing(store.verify())
