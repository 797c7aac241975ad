"""Erasure receipts: what an erasure deleted, what stays and why, which keys were destroyed.

Two scopes:
- `organization`: an org deleted and past its restore window (`zdr.store.deletion`): its
  content key destroyed (crypto-shredding) and its rows deleted;
- `end_user`: one end user of an org (`zdr erase --org ORG --end-user ID`,
  `zdr.store.end_user_erasure`), named by the keyed hash of their id only.

Content-free: counts per record class, hold ids and kinds, key ids (hashes of wrapped keys).
The receipt is signed and logged like a statement, and verifies with `zdr attest verify`.
"""

from __future__ import annotations

from typing import Any

from zdr.proof.canonical import instant
from zdr.store.end_user_erasure import EndUserErasure
from zdr.store.erasure_records import ErasureReport

RECEIPT_TYPE = "zdr.erasure-receipt/v1"
WHY = {
    "classifier_result": "scores and labels only, no content; kept for the catalog's period "
                         "(7 years)",
    "flagged_content": "the misuse exception: flagged content is kept under its own key for "
                       "its period, or while a hold stands",
    "audit": "the audit log records who did what to which settings, never content",
    "held": "under a hold (legal or safety): nothing under a hold is deleted until it is "
            "released",
    "metadata": "ids, counts and timings, no content; the end-user link removed",
}


def _org(org: Any) -> dict[str, Any]:
    return {"id": org.id, "name": org.name, "plan": org.plan}


def _holds(holds: list[Any]) -> list[dict[str, Any]]:
    return [{"id": h.id, "kind": h.kind, "scope": h.scope} for h in holds]


def end_user_receipt(org: Any, erasure: EndUserErasure, holds: list[Any],
                     now: Any) -> dict[str, Any]:
    held = {k: v for k, v in erasure.held.items() if v}
    kept: list[dict[str, Any]] = []
    for record_class in ("flagged_content", "classifier_result"):
        if erasure.kept.get(record_class):
            kept.append({"record_class": record_class, "count": erasure.kept[record_class],
                         "why": WHY[record_class]})
    if erasure.unlinked_metadata:
        kept.append({"record_class": "metadata", "count": erasure.unlinked_metadata,
                     "why": WHY["metadata"]})
    for record_class, count in sorted(held.items()):
        if record_class not in {"flagged_content", "classifier_result"}:
            kept.append({"record_class": record_class, "count": count, "why": WHY["held"]})
    kept.append({"record_class": "audit", "count": None, "why": WHY["audit"]})
    return {
        "type": RECEIPT_TYPE,
        "scope": {"kind": "end_user", "end_users": erasure.end_users,
                  "end_user_form": "HMAC-SHA256 of the end user's identity (key from the "
                                   "master key): the id as sent, or its account or device"},
        "org": _org(org),
        "erased_at": instant(now),
        "exchanges": erasure.exchanges,
        "deleted": dict(sorted(erasure.deleted.items())),
        "kept": kept,
        "holds": _holds(holds),
        "keys_destroyed": [],
    }


def org_receipt(org: Any, report: ErasureReport, holds: list[Any]) -> dict[str, Any]:
    names = {"contents": "content", "flagged_contents": "flagged_content",
             "feature_artifacts": "feature_artifact", "exchanges": "metadata",
             "api_keys": "api_key", "memberships": "membership", "zdr_requests": "zdr_request",
             "workspaces": "workspace", "upstream_resources": "upstream_resource"}
    kept: list[dict[str, Any]] = []
    if report.kept_classifier_results:
        kept.append({"record_class": "classifier_result",
                     "count": report.kept_classifier_results, "why": WHY["classifier_result"]})
    for table, count in sorted(report.held_remaining.items()):
        if count:
            kept.append({"record_class": names.get(table, table), "count": count,
                         "why": WHY["held"]})
    kept.append({"record_class": "audit", "count": None, "why": WHY["audit"]})
    assert report.erased_at is not None
    return {
        "type": RECEIPT_TYPE,
        "scope": {"kind": "organization"},
        "org": _org(org),
        "erased_at": instant(report.erased_at),
        "deleted": {names.get(t, t): n for t, n in sorted(report.deleted.items())},
        "kept": kept,
        "holds": _holds(holds),
        "keys_destroyed": sorted(report.destroyed_keys),
        "content_key_destroyed": report.content_key_destroyed,
        "safety_key_destroyed": report.safety_key_destroyed,
    }
