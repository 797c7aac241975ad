"""What the policy reads: request facts and the arrangements in force. Never content."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

ZdrStatus = Literal["none", "requested", "approved", "denied", "revoked"]
ZDR_STATUSES: tuple[ZdrStatus, ...] = ("none", "requested", "approved", "denied", "revoked")
PLANS = ("free", "pro", "max", "team", "enterprise", "api")
KEY_KINDS = ("api", "enterprise_seat", "console", "consumer")
SURFACES = (
    "messages", "count_tokens", "models", "batches", "files", "skills",
    "claude_code_api", "claude_code_enterprise", "console", "consumer",
)


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """The facts of one request that the policy needs: names and flags, no message text."""

    surface: str
    features: frozenset[str] = frozenset()
    model: str | None = None
    browser_access: bool = False        # the request carries a CORS `Origin` header
    unknown_features: frozenset[str] = frozenset()
    method: str = "POST"
    route: str = "/v1/messages"
    betas: tuple[str, ...] = ()         # `anthropic-beta` values, in order; odd ones renamed
    malformed: tuple[str, ...] = ()     # parameters of the wrong type (e.g. a `model` list)


@dataclass(frozen=True, slots=True)
class OrgState:
    plan: str
    zdr_status: ZdrStatus = "none"
    zdr_effective_at: datetime | None = None
    hipaa: bool = False
    baa_version: str | None = None
    retention_days: int | None = None
    org_id: str = ""


@dataclass(frozen=True, slots=True)
class WorkspaceState:
    retention_override_days: int | None = None
    workspace_id: str = ""


@dataclass(frozen=True, slots=True)
class Arrangements:
    """Everything in force for the caller: its org, its workspace and the kind of its key."""

    org: OrgState
    key_kind: str = "api"
    workspace: WorkspaceState = field(default_factory=WorkspaceState)
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Hashed once: the gateway reuses one Arrangements per principal, and `decide` memoizes
        # on it, so each request would otherwise re-hash the org's seven fields.
        object.__setattr__(self, "_hash", hash((self.org, self.key_kind, self.workspace)))

    def __hash__(self) -> int:
        return self._hash
