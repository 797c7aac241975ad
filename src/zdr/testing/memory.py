"""In-memory twins of the ports: a directory of keys, an exchange sink, a safety queue, a clock,
and the owners of upstream files and batches."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from zdr.keys import hash_secret, new_api_key
from zdr.policy.facts import Arrangements, OrgState, WorkspaceState
from zdr.ports import ExchangeMetadata, Principal, RetainedContent, UpstreamResource


class InMemoryDirectory:
    """Key hash → principal, in a dict. `revoke` takes effect at the gateway's next cache miss."""

    def __init__(self) -> None:
        self._principals: dict[str, Principal] = {}
        self.lookups = 0

    async def principal_for(self, key_hash: str) -> Principal | None:
        self.lookups += 1
        return self._principals.get(key_hash)

    def add(self, secret: str, principal: Principal) -> None:
        self._principals[hash_secret(secret)] = principal

    def revoke(self, secret: str) -> None:
        self._principals.pop(hash_secret(secret), None)

    def create_key(
        self,
        org_name: str,
        *,
        plan: str = "api",
        zdr: bool = False,
        hipaa: bool = False,
        key_kind: str = "api",
        retention_days: int | None = None,
        workspace_override_days: int | None = None,
    ) -> tuple[str, Principal]:
        """A new key for a (new) org with the given arrangements; returns (secret, principal)."""
        key = new_api_key()
        org_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"zdr-org:{org_name}"))
        workspace_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"zdr-ws:{org_name}"))
        arrangements = Arrangements(
            org=OrgState(
                plan=plan,
                zdr_status="approved" if zdr else "none",
                hipaa=hipaa,
                baa_version="2026-01" if hipaa else None,
                retention_days=retention_days,
                org_id=org_id,
            ),
            key_kind=key_kind,
            workspace=WorkspaceState(retention_override_days=workspace_override_days,
                                     workspace_id=workspace_id),
        )
        principal = Principal(
            key_id=str(uuid.uuid4()), key_prefix=key.prefix, org_id=org_id, org_name=org_name,
            workspace_id=workspace_id, arrangements=arrangements,
        )
        self.add(key.secret, principal)
        return key.secret, principal


@dataclass
class InMemorySink:
    """Keeps what the gateway records, in lists, for tests to inspect."""

    metadata: list[ExchangeMetadata] = field(default_factory=list)
    retained: list[tuple[ExchangeMetadata, RetainedContent]] = field(default_factory=list)
    delay: float = 0.0
    fail_retained: bool = False

    async def record_metadata(self, meta: ExchangeMetadata) -> None:
        self.metadata.append(meta)

    async def record_retained(self, meta: ExchangeMetadata, content: RetainedContent) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_retained:
            raise ConnectionError("store unavailable")
        self.retained.append((meta, content))

    def by_id(self, exchange_id: str) -> ExchangeMetadata | None:
        return next((m for m in self.metadata if m.exchange_id == exchange_id), None)


@dataclass
class InMemoryResourceOwners:
    """`zdr.ports.ResourceOwners` in a dict keyed by (kind, id); a record past `expires_at` has
    no owner. `fail_record` makes `record` raise, as a store outage would."""

    resources: dict[tuple[str, str], UpstreamResource] = field(default_factory=dict)
    fail_record: bool = False

    async def record(self, resource: UpstreamResource) -> None:
        if self.fail_record:
            raise ConnectionError("store unavailable")
        self.resources.setdefault((resource.kind, resource.resource_id), resource)

    async def owner_of(self, kind: str, resource_id: str, now: datetime) -> str | None:
        found = self.resources.get((kind, resource_id))
        if found is None or (found.expires_at is not None and found.expires_at <= now):
            return None
        return found.org_id

    async def owned(
        self, org_id: str, kind: str, resource_ids: list[str], now: datetime
    ) -> set[str]:
        return {rid for rid in resource_ids
                if await self.owner_of(kind, rid, now) == org_id}

    async def forget(self, kind: str, resource_id: str) -> None:
        self.resources.pop((kind, resource_id), None)


class NullSafetyQueue:
    """Accepts submissions and drops them (the default when no classifier is wired)."""

    submitted = 0

    def submit(self, meta: ExchangeMetadata, input_text: str, output_text: str) -> None:
        self.submitted += 1

    def submit_parts(self, meta: ExchangeMetadata, parts: Sequence[tuple[str, str]],
                     not_scored: tuple[str, ...] = ()) -> None:
        self.submitted += 1


@dataclass
class RecordingSafetyQueue:
    """Keeps submissions in memory so tests can check what the classifier would see: `items`
    for exchanges of one text each, `parted` for those of several (with their not-scored
    reasons)."""

    items: list[tuple[ExchangeMetadata, str, str]] = field(default_factory=list)
    parted: list[tuple[ExchangeMetadata, list[tuple[str, str]], tuple[str, ...]]] = field(
        default_factory=list)

    def submit(self, meta: ExchangeMetadata, input_text: str, output_text: str) -> None:
        self.items.append((meta, input_text, output_text))

    def submit_parts(self, meta: ExchangeMetadata, parts: Sequence[tuple[str, str]],
                     not_scored: tuple[str, ...] = ()) -> None:
        self.parted.append((meta, list(parts), not_scored))

    def exchange_ids(self) -> list[str]:
        """Every exchange submitted, in order of submission within each kind."""
        return [m.exchange_id for m, _, _ in self.items] + \
            [m.exchange_id for m, _, _ in self.parted]


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass
class FixedClock:
    at: datetime

    def now(self) -> datetime:
        return self.at
