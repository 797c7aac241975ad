"""The pure ZDR state machine: every (status, event) pair, consumer plans, separation of duties."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from zdr.catalog import default_catalog
from zdr.control import lifecycle
from zdr.control.lifecycle import ZdrState
from zdr.errors import Conflict, InvalidRequest, PermissionDenied
from zdr.policy.facts import ZDR_STATUSES

WHEN = datetime(2026, 12, 1, tzinfo=UTC)
CATALOG = default_catalog()


def apply(state: ZdrState, event: str) -> ZdrState:
    if event == "request":
        return lifecycle.request(state, refusal=None, requester="owner")
    if event == "approve":
        return lifecycle.approve(state, refusal=None, reviewer="reviewer", effective_at=WHEN)
    if event == "deny":
        return lifecycle.deny(state, reviewer="reviewer")
    return lifecycle.revoke(state)


# (from, event) -> to; every pair not listed must be refused with 409.
ALLOWED = {
    ("none", "request"): "requested",       # first request
    ("denied", "request"): "requested",     # ask again after a denial
    ("revoked", "request"): "requested",    # ask again after a revocation
    ("requested", "approve"): "approved",   # a reviewer approves
    ("requested", "deny"): "denied",        # a reviewer denies
    ("approved", "revoke"): "revoked",      # withdrawn
}


@pytest.mark.parametrize("status", ZDR_STATUSES)
@pytest.mark.parametrize("event", ["request", "approve", "deny", "revoke"])
def test_transition_table(status: str, event: str) -> None:
    """Exactly the design's transitions are possible; the rest are conflicts."""
    state = ZdrState(status=status, requested_by="owner")  # type: ignore[arg-type]
    target = ALLOWED.get((status, event))
    if target is None:
        with pytest.raises(Conflict):
            apply(state, event)
    else:
        assert apply(state, event).status == target


def test_approval_sets_effective_at_and_revocation_clears_it() -> None:
    approved = apply(apply(ZdrState(), "request"), "approve")
    assert approved.effective_at == WHEN
    assert apply(approved, "revoke").effective_at is None


@pytest.mark.parametrize("plan", ["free", "pro", "max", "team"])
def test_plans_that_cannot_hold_zdr_are_refused_with_the_catalog_message(plan: str) -> None:
    """free/pro/max/team: request and approve both refuse with the catalog's text naming the
    plan and the plans that can hold ZDR."""
    refusal = lifecycle.plan_refusal(plan, CATALOG.zdr_plans, CATALOG.messages.zdr_plan_refused)
    assert refusal is not None
    assert f"plan of this organization is {plan}" in refusal
    assert "api or enterprise" in refusal
    with pytest.raises(InvalidRequest, match=plan):
        lifecycle.request(ZdrState(), refusal=refusal, requester="owner")
    with pytest.raises(InvalidRequest):
        lifecycle.approve(ZdrState("requested", requested_by="o"), refusal=refusal,
                          reviewer="r", effective_at=WHEN)


@pytest.mark.parametrize("plan", ["api", "enterprise"])
def test_api_and_enterprise_plans_are_not_refused(plan: str) -> None:
    assert lifecycle.plan_refusal(plan, CATALOG.zdr_plans, "x") is None


@pytest.mark.parametrize("decide", ["approve", "deny"])
def test_the_requester_cannot_decide(decide: str) -> None:
    """Separation of duties: whoever asked for ZDR cannot approve or deny it."""
    state = lifecycle.request(ZdrState(), refusal=None, requester="same-person")
    with pytest.raises(PermissionDenied):
        if decide == "approve":
            lifecycle.approve(state, refusal=None, reviewer="same-person", effective_at=WHEN)
        else:
            lifecycle.deny(state, reviewer="same-person")
