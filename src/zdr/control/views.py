"""What the control services return: frozen records of settings, never content or secrets.

The one record that carries a secret is `NewSecretView` (an API key or admin token, returned once
at creation); nothing stores it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from zdr.catalog.schema import Catalog
from zdr.policy.decide import zdr_in_force
from zdr.policy.facts import Arrangements, OrgState
from zdr.store.db import utc


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def as_dict(view: Any) -> dict[str, Any]:
    return asdict(view)


@dataclass(frozen=True, slots=True)
class OrgView:
    id: str
    name: str
    plan: str
    created_at: datetime
    zdr_status: str
    zdr_effective_at: datetime | None
    zdr_in_force: bool
    hipaa: bool
    baa_version: str | None
    hipaa_accepted_at: datetime | None
    retention_days: int | None
    retention: str                       # what is in force, in words
    deleted_at: datetime | None
    restorable_until: datetime | None

    @classmethod
    def of(cls, row: Any, catalog: Catalog, now: datetime) -> OrgView:
        state = OrgState(plan=row.plan, zdr_status=row.zdr_status,
                         zdr_effective_at=_utc(row.zdr_effective_at), org_id=row.id)
        in_force = zdr_in_force(Arrangements(org=state), catalog, now)
        deleted = _utc(row.deleted_at)
        days = row.retention_days or catalog.retention.default_content_days
        if in_force and state.zdr_effective_at is not None:
            since = f"{state.zdr_effective_at:%Y-%m-%d}"
            words = f"Zero data retention — approved, in force since {since}"
        elif in_force:
            words = "Zero data retention — approved"
        else:
            words = f"{days} days"
        return cls(
            id=row.id, name=row.name, plan=row.plan, created_at=utc(row.created_at),
            zdr_status=row.zdr_status, zdr_effective_at=state.zdr_effective_at,
            zdr_in_force=in_force, hipaa=bool(row.hipaa), baa_version=row.baa_version,
            hipaa_accepted_at=_utc(row.hipaa_accepted_at), retention_days=row.retention_days,
            retention=words, deleted_at=deleted,
            restorable_until=None if deleted is None
            else deleted + timedelta(days=catalog.retention.deletion_restore_days),
        )


@dataclass(frozen=True, slots=True)
class WorkspaceView:
    id: str
    org_id: str
    name: str
    retention_override_days: int | None
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> WorkspaceView:
        return cls(id=row.id, org_id=row.org_id, name=row.name,
                   retention_override_days=row.retention_override_days,
                   created_at=utc(row.created_at))


@dataclass(frozen=True, slots=True)
class KeyView:
    id: str
    org_id: str
    workspace_id: str
    kind: str
    prefix: str
    name: str | None
    created_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> KeyView:
        return cls(id=row.id, org_id=row.org_id, workspace_id=row.workspace_id, kind=row.kind,
                   prefix=row.prefix, name=row.name, created_at=utc(row.created_at),
                   revoked_at=_utc(row.revoked_at))


@dataclass(frozen=True, slots=True)
class NewSecretView:
    """A key or token just created. `secret` is shown this once and stored nowhere."""

    id: str
    prefix: str
    secret: str
    org_id: str | None = None
    workspace_id: str | None = None
    kind: str | None = None


@dataclass(frozen=True, slots=True)
class ZdrRequestView:
    id: str
    org_id: str
    status: str
    reason: str | None
    requested_by: str | None
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    note: str | None
    effective_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> ZdrRequestView:
        return cls(id=row.id, org_id=row.org_id, status=row.status, reason=row.reason,
                   requested_by=row.requested_by, requested_at=utc(row.requested_at),
                   decided_by=row.decided_by, decided_at=_utc(row.decided_at), note=row.note,
                   effective_at=_utc(row.effective_at))


@dataclass(frozen=True, slots=True)
class UserView:
    id: str
    email: str
    created_at: datetime
    provider_roles: tuple[str, ...]
    org_roles: dict[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class MemberView:
    """A person as one organization's owner sees them: the email and the roles in that org only
    (never their provider roles, other orgs, id or creation date)."""

    email: str
    org_id: str
    roles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class FlaggedView:
    """A flagged exchange's record, without its content."""

    id: int
    exchange_id: str
    org_id: str
    workspace_id: str | None
    categories: Any
    created_at: datetime
    expires_at: datetime

    @classmethod
    def of(cls, row: Any) -> FlaggedView:
        return cls(id=row.id, exchange_id=row.exchange_id, org_id=row.org_id,
                   workspace_id=row.workspace_id, categories=row.categories,
                   created_at=utc(row.created_at), expires_at=utc(row.expires_at))
