"""Rows of each record class, computed from an exchange's metadata and its decision. Pure.

`expires_at` of every row comes from the decision's retention plan at write time
(`decision.keep[record_class].days` counted from the exchange's start), so what is stored can be
explained later by the decision and rule ids stored next to it.

Rows are tuples in the column order of `*_COLUMNS` (`exchange_values`, `content_values`, …), for
the writer's driver-level statements (`zdr.store.upsert.DriverInsert`): JSON columns already
serialized by `zdr.store.db.json_dumps` and datetimes passed through `stamp`, the backend's bind
form (`db.datetime_binder`, what SQLAlchemy's own types bind, so Core reads them back as it
reads its own writes). tests/store/test_stored_rows.py checks every column written against the
schema (`zdr.store.tables`) on both backends.

The per-decision parts (the decision JSON, features, rule ids, labels) are computed once per
Decision object (`decision_columns`): the policy returns the same object for the same facts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from zdr.policy.decision import Decision
from zdr.ports import ClassificationRecord, ExchangeMetadata
from zdr.store.crypto import Sealed
from zdr.store.db import json_dumps, utc

# "until deleted" where a column must hold a date (partitioned content tables).
FOREVER = datetime(9000, 1, 1, tzinfo=UTC)


def expiry(meta: ExchangeMetadata, record_class: str) -> datetime | None:
    """When a record of this class expires; None = until deleted. Only for kept classes."""
    keep = meta.decision.keep[record_class]
    if not keep.kept:
        raise ValueError(f"the decision does not keep {record_class}")
    return None if keep.days is None else utc(meta.started_at) + timedelta(days=keep.days)


def kept(meta: ExchangeMetadata, record_class: str) -> bool:
    return meta.decision.keep[record_class].kept


def stored_labels(result: ClassificationRecord) -> dict[str, bool]:
    """The `labels` column: each category's label, and `not_scored:<reason>: true` for each part
    of the exchange the classifier did not see (so a reader can tell "clean" from "not seen")."""
    labels = {str(k): bool(v) for k, v in result.labels.items()}
    for reason in result.not_scored:
        labels[f"not_scored:{reason}"] = True
    return labels


Stamp = Callable[[datetime], Any]

EXCHANGE_COLUMNS = (
    "id", "org_id", "workspace_id", "key_id", "surface", "model", "features", "stream",
    "status_code", "outcome", "zdr_state", "retention", "catalog_version", "decision",
    "misuse_exception", "input_tokens", "output_tokens", "started_at", "duration_ms", "ttfb_ms",
    "expires_at", "end_user",
)
CONTENT_COLUMNS = ("exchange_id", "org_id", "workspace_id", "nonce", "ciphertext", "rule_ids",
                   "created_at", "expires_at")
CLASSIFIER_COLUMNS = ("exchange_id", "org_id", "workspace_id", "classifier",
                      "classifier_version", "flagged", "scores", "labels", "sampled_out",
                      "created_at", "expires_at")
ARTIFACT_COLUMNS = ("exchange_id", "org_id", "workspace_id", "feature", "kind", "created_at",
                    "expires_at")
FLAGGED_COLUMNS = ("exchange_id", "org_id", "workspace_id", "nonce", "ciphertext", "categories",
                   "rule_ids", "created_at", "expires_at")


@dataclass(frozen=True, slots=True)
class DecisionColumns:
    """The columns an exchange row takes from its decision, serialized once per Decision."""

    surface: str
    model: str | None
    features: str              # JSON
    zdr_state: str
    retention: str
    catalog_version: str
    decision: str              # JSON
    rule_ids: str              # JSON
    has_artifacts: bool


_COLUMNS: dict[int, tuple[Decision, DecisionColumns]] = {}


def decision_columns(decision: Decision) -> DecisionColumns:
    """`DecisionColumns` of `decision`, memoized per object (kept alive by the memo, so its id
    cannot be reused while cached; the memo is bounded)."""
    cached = _COLUMNS.get(id(decision))
    if cached is not None and cached[0] is decision:
        return cached[1]
    if len(_COLUMNS) > 4096:
        _COLUMNS.clear()
    columns = DecisionColumns(
        surface=decision.surface[:40],
        model=None if decision.model is None else decision.model[:64],
        features=json_dumps(list(decision.features)),
        zdr_state=decision.zdr,
        retention=decision.retention_label[:20],
        catalog_version=decision.catalog_version[:40],
        decision=json_dumps(decision.as_json()),
        rule_ids=json_dumps([hit.id for hit in decision.rules]),
        has_artifacts=bool(decision.artifacts),
    )
    _COLUMNS[id(decision)] = (decision, columns)
    return columns


def exchange_values(meta: ExchangeMetadata, stamp: Stamp,
                    timing: tuple[int | None, int | None] | None = None) -> tuple[Any, ...]:
    """The `exchanges` row of `meta`, in `EXCHANGE_COLUMNS` order; `timing`: its duration and
    time to first byte, if not `meta`'s."""
    d = decision_columns(meta.decision)
    duration, ttfb = (meta.duration_ms, meta.ttfb_ms) if timing is None else timing
    return (
        meta.exchange_id, meta.org_id, meta.workspace_id, meta.key_id, d.surface, d.model,
        d.features, meta.stream, meta.status_code, meta.outcome[:30], d.zdr_state, d.retention,
        d.catalog_version, d.decision, False, meta.input_tokens, meta.output_tokens,
        stamp(utc(meta.started_at)), duration, ttfb,
        stamp(expiry(meta, "metadata") or FOREVER), meta.end_user,
    )


def content_values(meta: ExchangeMetadata, sealed: Sealed, now: Any,
                   stamp: Stamp) -> tuple[Any, ...]:
    """The `contents` row of sealed content (`CONTENT_COLUMNS`); `now` already in bind form."""
    return (
        meta.exchange_id, meta.org_id, meta.workspace_id, sealed.nonce, sealed.ciphertext,
        decision_columns(meta.decision).rule_ids, now,
        stamp(expiry(meta, "content") or FOREVER),
    )


def classification_values(meta: ExchangeMetadata, result: ClassificationRecord, now: Any,
                          stamp: Stamp) -> tuple[Any, ...]:
    """The `classifier_results` row (`CLASSIFIER_COLUMNS`); `now` already in bind form."""
    return (
        result.exchange_id, result.org_id, meta.workspace_id, result.classifier[:80],
        result.classifier_version[:40], result.flagged,
        json_dumps({str(k): float(v) for k, v in result.scores.items()}),
        json_dumps(stored_labels(result)),
        result.sampled_out, now, stamp(expiry(meta, "classifier_result") or FOREVER),
    )


def flagged_values(meta: ExchangeMetadata, result: ClassificationRecord, sealed: Sealed,
                   now: Any, stamp: Stamp) -> tuple[Any, ...]:
    """The `flagged_contents` row (`FLAGGED_COLUMNS`); `now` already in bind form. Its
    categories are the labels that are set (never a `not_scored:` marker)."""
    return (
        meta.exchange_id, meta.org_id, meta.workspace_id, sealed.nonce, sealed.ciphertext,
        json_dumps(sorted(str(k) for k, v in result.labels.items() if v)),
        decision_columns(meta.decision).rule_ids, now,
        stamp(expiry(meta, "flagged_content") or FOREVER),
    )


def artifact_values(meta: ExchangeMetadata, now: Any, stamp: Stamp) -> list[tuple[Any, ...]]:
    """The `feature_artifacts` rows its decision names (`ARTIFACT_COLUMNS`); `now` in bind form.
    An artifact kept until deleted has no `expires_at`."""
    start = utc(meta.started_at)
    return [
        (meta.exchange_id, meta.org_id, meta.workspace_id, artifact.feature, artifact.kind, now,
         None if artifact.days is None else stamp(start + timedelta(days=artifact.days)))
        for artifact in meta.decision.artifacts
    ]
