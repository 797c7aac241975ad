"""`InMemoryResourceOwners`: the `zdr.ports.ResourceOwners` twin (which org owns an upstream file,
batch, container or skill)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from zdr.ports import UpstreamResource


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
