"""Rows of each record class, computed from an exchange's metadata and its decision. Pure.

`expires_at` of every row comes from the decision's retention plan at write time
(`decision.keep[record_class].days` counted from the exchange's start), so what is stored can be
explained later by the decision and rule ids stored next to it.

Two forms of the same rows:
- dicts keyed by column name (`exchange_row`, `content_row`, …), for SQLAlchemy Core statements;
- tuples in the column order of `*_COLUMNS` (`exchange_values`, `content_values`, …), for the
  writer's driver-level `executemany` (`zdr.store.upsert.DriverInsert`): JSON columns already
  serialized by `zdr.store.db.json_dumps` (what the engine's serializer would produce) and
  datetimes passed through `stamp`, the backend's bind form (`db.datetime_binder`). Those
  tuples store exactly what the dicts store through Core (tests/store/test_fast_rows.py).

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


_DECISION_JSON: dict[int, tuple[Decision, dict[str, Any]]] = {}


def decision_json(decision: Decision) -> dict[str, Any]:
    """`decision.as_json()`, memoized: the policy returns the same Decision object for the same
    facts and arrangements (its own cache), so the writer serializes each one once."""
    cached = _DECISION_JSON.get(id(decision))
    if cached is not None and cached[0] is decision:
        return cached[1]
    if len(_DECISION_JSON) > 4096:
        _DECISION_JSON.clear()
    value = decision.as_json()
    _DECISION_JSON[id(decision)] = (decision, value)
    return value


def rule_ids(meta: ExchangeMetadata) -> list[str]:
    return [hit.id for hit in meta.decision.rules]


def exchange_row(meta: ExchangeMetadata) -> dict[str, Any]:
    decision = meta.decision
    return {
        "id": meta.exchange_id,
        "org_id": meta.org_id,
        "workspace_id": meta.workspace_id,
        "key_id": meta.key_id,
        "surface": decision.surface[:40],
        "model": None if decision.model is None else decision.model[:64],
        "features": list(decision.features),
        "stream": meta.stream,
        "status_code": meta.status_code,
        "outcome": meta.outcome[:30],
        "zdr_state": decision.zdr,
        "retention": decision.retention_label[:20],
        "catalog_version": decision.catalog_version[:40],
        "decision": decision_json(decision),
        "misuse_exception": False,
        "input_tokens": meta.input_tokens,
        "output_tokens": meta.output_tokens,
        "started_at": utc(meta.started_at),
        "duration_ms": meta.duration_ms,
        "ttfb_ms": meta.ttfb_ms,
        "expires_at": expiry(meta, "metadata") or FOREVER,
    }


def artifact_rows(meta: ExchangeMetadata, now: datetime) -> list[dict[str, Any]]:
    start = utc(meta.started_at)
    return [
        {
            "exchange_id": meta.exchange_id,
            "org_id": meta.org_id,
            "workspace_id": meta.workspace_id,
            "feature": artifact.feature,
            "kind": artifact.kind,
            "created_at": now,
            "expires_at": None if artifact.days is None else start + timedelta(days=artifact.days),
        }
        for artifact in meta.decision.artifacts
    ]


def content_row(meta: ExchangeMetadata, sealed: Sealed, now: datetime) -> dict[str, Any]:
    return {
        "exchange_id": meta.exchange_id,
        "org_id": meta.org_id,
        "workspace_id": meta.workspace_id,
        "nonce": sealed.nonce,
        "ciphertext": sealed.ciphertext,
        "rule_ids": rule_ids(meta),
        "created_at": now,
        "expires_at": expiry(meta, "content") or FOREVER,
    }


def classification_row(
    meta: ExchangeMetadata, result: ClassificationRecord, now: datetime
) -> dict[str, Any]:
    return {
        "exchange_id": result.exchange_id,
        "org_id": result.org_id,
        "workspace_id": meta.workspace_id,
        "classifier": result.classifier[:80],
        "classifier_version": result.classifier_version[:40],
        "flagged": result.flagged,
        "scores": {str(k): float(v) for k, v in result.scores.items()},
        "labels": stored_labels(result),
        "sampled_out": result.sampled_out,
        "created_at": now,
        "expires_at": expiry(meta, "classifier_result") or FOREVER,
    }


def stored_labels(result: ClassificationRecord) -> dict[str, bool]:
    """The `labels` column: each category's label, and `not_scored:<reason>: true` for each part
    of the exchange the classifier did not see (so a reader can tell "clean" from "not seen")."""
    labels = {str(k): bool(v) for k, v in result.labels.items()}
    for reason in result.not_scored:
        labels[f"not_scored:{reason}"] = True
    return labels


def flagged_row(
    meta: ExchangeMetadata, result: ClassificationRecord, sealed: Sealed, now: datetime
) -> dict[str, Any]:
    return {
        "exchange_id": meta.exchange_id,
        "org_id": meta.org_id,
        "workspace_id": meta.workspace_id,
        "nonce": sealed.nonce,
        "ciphertext": sealed.ciphertext,
        "categories": sorted(str(k) for k, v in result.labels.items() if v),
        "rule_ids": rule_ids(meta),
        "created_at": now,
        "expires_at": expiry(meta, "flagged_content") or FOREVER,
    }


# -- driver-level rows: tuples in column order ------------------------------------------------
Stamp = Callable[[datetime], Any]

EXCHANGE_COLUMNS = (
    "id", "org_id", "workspace_id", "key_id", "surface", "model", "features", "stream",
    "status_code", "outcome", "zdr_state", "retention", "catalog_version", "decision",
    "misuse_exception", "input_tokens", "output_tokens", "started_at", "duration_ms", "ttfb_ms",
    "expires_at",
)
CONTENT_COLUMNS = ("exchange_id", "org_id", "workspace_id", "nonce", "ciphertext", "rule_ids",
                   "created_at", "expires_at")
CLASSIFIER_COLUMNS = ("exchange_id", "org_id", "workspace_id", "classifier",
                      "classifier_version", "flagged", "scores", "labels", "sampled_out",
                      "created_at", "expires_at")
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
        decision=json_dumps(decision_json(decision)),
        rule_ids=json_dumps([hit.id for hit in decision.rules]),
        has_artifacts=bool(decision.artifacts),
    )
    _COLUMNS[id(decision)] = (decision, columns)
    return columns


def exchange_values(meta: ExchangeMetadata, stamp: Stamp) -> tuple[Any, ...]:
    """`exchange_row(meta)` as a tuple in `EXCHANGE_COLUMNS` order."""
    d = decision_columns(meta.decision)
    return (
        meta.exchange_id, meta.org_id, meta.workspace_id, meta.key_id, d.surface, d.model,
        d.features, meta.stream, meta.status_code, meta.outcome[:30], d.zdr_state, d.retention,
        d.catalog_version, d.decision, False, meta.input_tokens, meta.output_tokens,
        stamp(utc(meta.started_at)), meta.duration_ms, meta.ttfb_ms,
        stamp(expiry(meta, "metadata") or FOREVER),
    )


def content_values(meta: ExchangeMetadata, sealed: Sealed, now: Any,
                   stamp: Stamp) -> tuple[Any, ...]:
    """`content_row` as a tuple (`CONTENT_COLUMNS`); `now` already in bind form."""
    return (
        meta.exchange_id, meta.org_id, meta.workspace_id, sealed.nonce, sealed.ciphertext,
        decision_columns(meta.decision).rule_ids, now,
        stamp(expiry(meta, "content") or FOREVER),
    )


def classification_values(meta: ExchangeMetadata, result: ClassificationRecord, now: Any,
                          stamp: Stamp) -> tuple[Any, ...]:
    """`classification_row` as a tuple (`CLASSIFIER_COLUMNS`); `now` already in bind form."""
    return (
        result.exchange_id, result.org_id, meta.workspace_id, result.classifier[:80],
        result.classifier_version[:40], result.flagged,
        json_dumps({str(k): float(v) for k, v in result.scores.items()}),
        json_dumps(stored_labels(result)),
        result.sampled_out, now, stamp(expiry(meta, "classifier_result") or FOREVER),
    )


def flagged_values(meta: ExchangeMetadata, result: ClassificationRecord, sealed: Sealed,
                   now: Any, stamp: Stamp) -> tuple[Any, ...]:
    """`flagged_row` as a tuple (`FLAGGED_COLUMNS`); `now` already in bind form."""
    return (
        meta.exchange_id, meta.org_id, meta.workspace_id, sealed.nonce, sealed.ciphertext,
        json_dumps(sorted(str(k) for k, v in result.labels.items() if v)),
        decision_columns(meta.decision).rule_ids, now,
        stamp(expiry(meta, "flagged_content") or FOREVER),
    )
