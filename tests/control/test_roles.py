"""`authorize` is pure: verdicts over plain data, each with a reason."""

from __future__ import annotations

import pytest

from zdr.control.roles import PERMISSIONS, Actor, authorize, system_actor

OWNER = Actor("u1", "o@a.example", org_roles={"org-a": frozenset({"org_owner"})})
MEMBER = Actor("u2", "m@a.example", org_roles={"org-a": frozenset({"org_member"})})
REVIEWER = Actor("u3", "r@p.example", provider_roles=frozenset({"reviewer"}))


@pytest.mark.parametrize(("actor", "action", "org", "allowed", "hide"), [
    (OWNER, "zdr.request", "org-a", True, False),     # an owner asks for its own org
    (OWNER, "zdr.request", "org-b", False, True),     # ...never for another, which stays hidden
    (OWNER, "zdr.approve", "org-a", False, False),    # owners never decide ZDR
    (MEMBER, "key.create", "org-a", False, False),    # members read, they do not change
    (MEMBER, "org.read", "org-a", True, False),
    (REVIEWER, "zdr.approve", "org-b", True, False),  # provider roles are not tied to an org
    (REVIEWER, "hold.place", "org-b", False, False),  # holds are for legal / trust & safety
    (system_actor(), "org.create", None, True, False),
    (system_actor(), "flagged.read", "org-a", False, False),   # not even the operator
    (OWNER, "no.such.action", "org-a", False, False),
])
def test_verdicts(actor: Actor, action: str, org: str | None, allowed: bool, hide: bool) -> None:
    verdict = authorize(actor, action, org)
    assert (verdict.allowed, verdict.hide) == (allowed, hide)
    assert verdict.reason


def test_every_action_has_a_summary_and_known_roles() -> None:
    from zdr.control.roles import ORG_ROLES, PROVIDER_ROLES

    for action, rule in PERMISSIONS.items():
        assert rule.summary, action
        assert rule.provider <= set(PROVIDER_ROLES) and rule.org <= set(ORG_ROLES), action
