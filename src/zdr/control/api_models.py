"""Request bodies and the error body of the admin API (the responses are `zdr.control.views`).

Bodies forbid unknown fields, so a typo is a 422 and not a silently ignored setting.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Plan = Literal["free", "pro", "max", "team", "enterprise", "api"]
KeyKind = Literal["api", "enterprise_seat", "console", "consumer"]
ProviderRole = Literal["provider_admin", "reviewer", "legal", "trust_safety"]
OrgRole = Literal["org_owner", "org_admin", "org_member"]
Name = Field(min_length=1, max_length=200)
Text = Field(default=None, max_length=2000)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    type: str
    message: str


class ErrorBody(BaseModel):
    """The Anthropic API error format, used for every error of the admin API."""

    type: Literal["error"] = "error"
    error: ErrorDetail


class OrgCreate(Body):
    name: str = Name
    plan: Plan


class ZdrRequestBody(Body):
    reason: str | None = Text


class ZdrDecisionBody(Body):
    note: str | None = Text
    effective_at: datetime | None = None


class ZdrNoteBody(Body):
    note: str | None = Text


class BaaAccept(Body):
    version: str = Field(min_length=1, max_length=50)


class RetentionSet(Body):
    days: int = Field(ge=1, le=100_000)
    confirm_shorten: bool = False


class WorkspaceCreate(Body):
    name: str = Name
    retention_override_days: int | None = Field(default=None, ge=1, le=100_000)


class WorkspaceRetention(Body):
    retention_override_days: int | None = Field(default=None, ge=1, le=100_000)


class KeyCreate(Body):
    workspace: str | None = Field(default=None, min_length=1, max_length=200)
    kind: KeyKind = "api"
    name: str | None = Field(default=None, max_length=200)


class HoldPlace(Body):
    org: str = Name
    reason: str = Field(min_length=1, max_length=2000)
    scope: Literal["org", "workspace", "exchange"] = "org"
    workspace: str | None = Field(default=None, min_length=1, max_length=200)
    exchange_id: str | None = Field(default=None, min_length=1, max_length=40)


class UserCreate(Body):
    email: str = Field(min_length=3, max_length=320)
    password: str | None = Field(default=None, min_length=12, max_length=200)
    provider_roles: list[ProviderRole] = Field(default_factory=list, max_length=4)
    org_roles: dict[str, list[OrgRole]] = Field(default_factory=dict, max_length=50)


class MembershipGrant(Body):
    org: str = Name
    role: OrgRole


class MemberAdd(Body):
    email: str = Field(min_length=3, max_length=320)
    role: OrgRole


class PasswordSet(Body):
    password: str = Field(min_length=12, max_length=1024)
    current_password: str | None = Field(default=None, max_length=1024)


class TokenCreate(Body):
    email: str = Field(min_length=3, max_length=320)


class ActorView(BaseModel):
    user_id: str
    email: str
    provider_roles: list[str]
    org_roles: dict[str, list[str]]
