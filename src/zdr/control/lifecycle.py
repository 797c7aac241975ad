"""The ZDR lifecycle of one organization, as a pure state machine (docs/DESIGN.md §3).

    none ──request──► requested ──approve(effective_at)──► approved ──revoke──► revoked
                          │                                                        │
                          └──deny──► denied ──request──► requested ◄──request──────┘

No I/O and no clock: callers pass the plan's refusal (if any), who acts and when ZDR takes effect.
A refused transition raises an error of `zdr.errors` that says why; the state never changes
half-way.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal

from zdr.errors import Conflict, InvalidRequest, PermissionDenied
from zdr.policy.facts import ZdrStatus

Event = Literal["request", "approve", "deny", "revoke"]

TRANSITIONS: dict[tuple[ZdrStatus, Event], ZdrStatus] = {
    ("none", "request"): "requested",
    ("denied", "request"): "requested",
    ("revoked", "request"): "requested",
    ("requested", "approve"): "approved",
    ("requested", "deny"): "denied",
    ("approved", "revoke"): "revoked",
}


@dataclass(frozen=True, slots=True)
class ZdrState:
    status: ZdrStatus = "none"
    effective_at: datetime | None = None
    requested_by: str | None = None


def plan_refusal(plan: str, allowed: frozenset[str], message: str) -> str | None:
    """The catalog's refusal text when `plan` may not hold the arrangement (ZDR and a BAA: only
    api and enterprise orgs), naming the plans that may; else None."""
    if plan in allowed:
        return None
    return message.replace("{plans}", " or ".join(sorted(allowed))).replace("{plan}", plan)


def _step(state: ZdrState, event: Event) -> ZdrStatus:
    target = TRANSITIONS.get((state.status, event))
    if target is None:
        raise Conflict(f"cannot {event} ZDR: the organization's ZDR status is '{state.status}'")
    return target


def request(state: ZdrState, *, refusal: str | None, requester: str) -> ZdrState:
    """An org owner/admin asks for ZDR. `refusal` is set for orgs whose plan cannot hold it."""
    if refusal is not None:
        raise InvalidRequest(refusal)
    return ZdrState(status=_step(state, "request"), requested_by=requester)


def _decide(state: ZdrState, event: Event, reviewer: str) -> ZdrStatus:
    target = _step(state, event)
    if state.requested_by is not None and state.requested_by == reviewer:
        raise PermissionDenied("the reviewer of a ZDR request must not be its requester")
    return target


def approve(
    state: ZdrState, *, refusal: str | None, reviewer: str, effective_at: datetime
) -> ZdrState:
    """A provider reviewer (not the requester) approves; ZDR is in force from `effective_at`.
    `refusal` is set for orgs whose plan cannot hold ZDR (checked again at approval)."""
    if refusal is not None:
        raise InvalidRequest(refusal)
    return replace(state, status=_decide(state, "approve", reviewer), effective_at=effective_at)


def deny(state: ZdrState, *, reviewer: str) -> ZdrState:
    return replace(state, status=_decide(state, "deny", reviewer), effective_at=None)


def revoke(state: ZdrState) -> ZdrState:
    return replace(state, status=_step(state, "revoke"), effective_at=None)
