"""Test data for the store: orgs, workspaces, keys and exchange metadata from real decisions."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from zdr.catalog import default_catalog
from zdr.keys import new_api_key
from zdr.policy import Arrangements, OrgState, RequestFacts, WorkspaceState, decide
from zdr.policy.decision import Decision
from zdr.ports import ClassificationRecord, ExchangeMetadata, RetainedContent
from zdr.store.tables import api_keys, organizations, workspaces

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
CATALOG = default_catalog()


def make_org(engine: Engine, name: str | None = None, *, plan: str = "api",
             zdr: bool = False, retention_days: int | None = None,
             deleted_at: datetime | None = None) -> str:
    org_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(organizations.insert().values(
            id=org_id, name=name or f"org-{org_id[:8]}", plan=plan, created_at=NOW,
            zdr_status="approved" if zdr else "none",
            zdr_effective_at=NOW - timedelta(days=1) if zdr else None,
            hipaa=False, retention_days=retention_days, deleted_at=deleted_at,
        ))
    return org_id


def make_workspace(engine: Engine, org_id: str, *, override: int | None = None) -> str:
    ws_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(workspaces.insert().values(
            id=ws_id, org_id=org_id, name=f"ws-{ws_id[:8]}", retention_override_days=override,
            created_at=NOW,
        ))
    return ws_id


def make_key(engine: Engine, org_id: str, ws_id: str, *, kind: str = "api",
             revoked: bool = False) -> tuple[str, str]:
    """A key row; returns (key id, key hash)."""
    secret = new_api_key()
    key_id = str(uuid.uuid4())
    with engine.begin() as conn:
        conn.execute(api_keys.insert().values(
            id=key_id, org_id=org_id, workspace_id=ws_id, kind=kind, prefix=secret.prefix,
            key_hash=secret.digest, created_at=NOW, revoked_at=NOW if revoked else None,
        ))
    return key_id, secret.digest


def decision(*, zdr: bool = False, retention_days: int | None = None,
             features: frozenset[str] = frozenset(), surface: str = "messages",
             override: int | None = None) -> Decision:
    org = OrgState(plan="api", zdr_status="approved" if zdr else "none",
                   zdr_effective_at=NOW - timedelta(days=1) if zdr else None,
                   retention_days=retention_days)
    arrangements = Arrangements(org=org, workspace=WorkspaceState(retention_override_days=override))
    facts = RequestFacts(surface=surface, features=features, model="claude-sonnet-4-5")
    result = decide(facts, arrangements, CATALOG, NOW)
    assert result.allowed, result.error
    return result


def meta(org_id: str, dec: Decision, *, exchange_id: str | None = None,
         workspace_id: str | None = None, started_at: datetime = NOW) -> ExchangeMetadata:
    return ExchangeMetadata(
        exchange_id=exchange_id or f"ex_{uuid.uuid4().hex}", org_id=org_id,
        workspace_id=workspace_id, key_id=None, started_at=started_at, decision=dec,
        status_code=200, outcome="ok", input_tokens=10, output_tokens=20, duration_ms=5,
    )


def content(tag: str = "hello") -> RetainedContent:
    return RetainedContent(
        request=f'{{"messages":[{{"role":"user","content":"{tag}"}}]}}'.encode(),
        response=f'{{"content":[{{"type":"text","text":"re: {tag}"}}]}}'.encode(),
    )


def classification(m: ExchangeMetadata, *, flagged: bool) -> ClassificationRecord:
    return ClassificationRecord(
        exchange_id=m.exchange_id, org_id=m.org_id, classifier="test", classifier_version="1",
        flagged=flagged, scores={"violence": 0.9 if flagged else 0.1},
        labels={"violence": flagged},
    )


def put_record(engine: Engine, table: Any, *, org_id: str, exchange_id: str,
               expires_at: datetime | None, workspace_id: str | None = None,
               created_at: datetime = NOW) -> Any:
    """Insert one row of any record class directly (partitions ensured); returns its key."""
    from zdr.store.partitions import PartitionManager

    base: dict[str, Any] = {"org_id": org_id, "workspace_id": workspace_id,
                            "expires_at": expires_at}
    name = table.name
    if name == "exchanges":
        base.update(id=exchange_id, surface="messages", features=[], stream=False,
                    status_code=200, outcome="ok", zdr_state="none", retention="30d",
                    catalog_version="t", decision={}, misuse_exception=False, started_at=created_at)
    else:
        base.update(exchange_id=exchange_id, created_at=created_at)
    if name in ("contents", "flagged_contents"):
        PartitionManager(engine).ensure(name, [expires_at] if expires_at else [])
        base.update(nonce=b"n" * 12, ciphertext=b"c", rule_ids=[])
    if name == "flagged_contents":
        base.update(categories=[])
    if name == "classifier_results":
        base.update(classifier="t", classifier_version="1", flagged=False, scores={}, labels={},
                    sampled_out=False)
    if name == "feature_artifacts":
        base.update(feature="files", kind="file")
    with engine.begin() as conn:
        result = conn.execute(table.insert().values(**base))
        return exchange_id if name == "exchanges" else result.inserted_primary_key[0]


def gate_commits(sink: Any) -> threading.Event:
    """Hold each commit of the sink's writer until the returned event is set (10 s at most)."""
    gate = threading.Event()
    real = sink.writer._commit

    def gated(jobs: Any) -> None:
        gate.wait(10)
        real(jobs)

    sink.writer._commit = gated
    return gate
