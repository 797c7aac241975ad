"""Hypothesis state machine over request / approve / deny / revoke / create-org / accept-BAA.

Against a real (SQLite) control plane, checked after every step: ZDR is in force only for an org
whose ZDR was approved (and has taken effect), only for an api or enterprise org, never inherited
by a new org; a BAA only for an api or enterprise org; HIPAA never turns off; the audit chain
verifies and grows by exactly one entry per action.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import hypothesis.strategies as st
from control_world import START, Clock, fast_engine, make_plane
from hypothesis import HealthCheck, settings
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from zdr.control import audit
from zdr.control.roles import system_actor
from zdr.errors import ZdrError
from zdr.store.db import migrate

PLANS = ["free", "pro", "max", "team", "enterprise", "api"]
# plans that can hold neither ZDR nor a BAA (only api and enterprise can)
CONSUMER = {"free", "pro", "max", "team"}
# The design's transitions, written out independently of zdr.control.lifecycle.
NEXT = {("none", "request"): "requested", ("denied", "request"): "requested",
        ("revoked", "request"): "requested", ("requested", "approve"): "approved",
        ("requested", "deny"): "denied", ("approved", "revoke"): "revoked"}
_TEMPLATE: Path | None = None


def empty_store() -> Path:
    """A migrated, empty SQLite file (made once), copied for each run of the machine."""
    global _TEMPLATE
    if _TEMPLATE is None:
        path = Path(tempfile.mkdtemp(prefix="zdr-machine-")) / "template.sqlite3"
        engine = fast_engine(path)
        migrate(engine)
        engine.dispose()
        _TEMPLATE = path
    target = Path(tempfile.mkdtemp(prefix="zdr-machine-")) / "zdr.sqlite3"
    shutil.copy(_TEMPLATE, target)
    return target


@dataclass
class OrgModel:
    plan: str
    status: str = "none"
    effective_minutes: int | None = None   # minutes after START when approved ZDR takes effect
    hipaa: bool = False
    baa: str | None = None


class LifecycleMachine(RuleBasedStateMachine):
    orgs = Bundle("orgs")

    def __init__(self) -> None:
        super().__init__()
        self.path = empty_store()
        self.engine = fast_engine(self.path)
        self.clock = Clock(START)
        self.plane = make_plane(self.engine, self.clock)
        self.operator = system_actor()
        self.reviewer = self.plane.accounts.create_user(
            self.operator, "reviewer@provider.example", provider_roles=["reviewer"])
        self.reviewer_actor = self.plane.accounts.actor_for_email("reviewer@provider.example")
        self.model: dict[str, OrgModel] = {}
        self.entries = 1                  # the reviewer's creation
        self.minutes = 0

    def teardown(self) -> None:
        self.engine.dispose()
        shutil.rmtree(self.path.parent, ignore_errors=True)

    def attempt(self, action: object, succeeds: bool) -> None:
        """Run one service call; it must succeed exactly when the model says so."""
        try:
            action()  # type: ignore[operator]
        except ZdrError:
            assert not succeeds, "the control plane refused an allowed action"
            return
        assert succeeds, "the control plane allowed a refused action"
        self.entries += 1

    @rule(target=orgs, plan=st.sampled_from(PLANS))
    def create_org(self, plan: str) -> str:
        name = f"org-{len(self.model)}"
        self.plane.orgs.create(self.operator, name, plan)
        self.model[name] = OrgModel(plan)
        self.entries += 1
        return name

    @rule(org=orgs)
    def request(self, org: str) -> None:
        m = self.model[org]
        ok = m.plan not in CONSUMER and (m.status, "request") in NEXT
        self.attempt(lambda: self.plane.arrangements.request_zdr(self.operator, org, "r"), ok)
        if ok:
            m.status = "requested"

    @rule(org=orgs, delay=st.sampled_from([0, 0, 30]))
    def approve(self, org: str, delay: int) -> None:
        m = self.model[org]
        ok = m.plan not in CONSUMER and (m.status, "approve") in NEXT
        when = self.clock() + timedelta(minutes=delay)
        self.attempt(lambda: self.plane.arrangements.approve_zdr(self.reviewer_actor, org, when),
                     ok)
        if ok:
            m.status, m.effective_minutes = "approved", self.minutes + delay

    @rule(org=orgs)
    def approve_own_request(self, org: str) -> None:
        """The operator asked (in `request`), so the operator may never decide."""
        self.attempt(lambda: self.plane.arrangements.approve_zdr(self.operator, org), False)

    @rule(org=orgs)
    def deny(self, org: str) -> None:
        m = self.model[org]
        ok = (m.status, "deny") in NEXT
        self.attempt(lambda: self.plane.arrangements.deny_zdr(self.reviewer_actor, org), ok)
        if ok:
            m.status, m.effective_minutes = "denied", None

    @rule(org=orgs)
    def revoke(self, org: str) -> None:
        m = self.model[org]
        ok = (m.status, "revoke") in NEXT
        self.attempt(lambda: self.plane.arrangements.revoke_zdr(self.reviewer_actor, org), ok)
        if ok:
            m.status, m.effective_minutes = "revoked", None

    @rule(org=orgs, version=st.sampled_from(["2025-01", "2026-03"]))
    def accept_baa(self, org: str, version: str) -> None:
        m = self.model[org]
        ok = m.plan not in CONSUMER and m.baa != version
        self.attempt(lambda: self.plane.arrangements.accept_baa(self.operator, org, version), ok)
        if ok:
            m.hipaa, m.baa = True, version

    @rule(org=orgs)
    def try_to_disable_hipaa(self, org: str) -> None:
        self.attempt(lambda: self.plane.arrangements.disable_hipaa(self.operator, org), False)

    @rule(minutes=st.integers(min_value=1, max_value=60))
    def time_passes(self, minutes: int) -> None:
        self.clock.advance(minutes=minutes)
        self.minutes += minutes

    @invariant()
    def arrangements_match_the_model(self) -> None:
        if not self.model:
            return
        for org in self.plane.orgs.list(self.operator):
            m = self.model[org.name]
            in_force = (m.status == "approved" and m.plan not in CONSUMER
                        and m.effective_minutes is not None and m.effective_minutes <= self.minutes)
            assert org.zdr_in_force == in_force, (org.name, org.zdr_status, m)
            assert org.zdr_status == m.status
            assert org.hipaa == m.hipaa and org.baa_version == m.baa
            if org.plan in CONSUMER:
                assert not org.zdr_in_force and not org.hipaa

    @invariant()
    def audit_chain_verifies_with_one_entry_per_action(self) -> None:
        with self.engine.connect() as conn:
            report = audit.verify_chain(conn)
        assert report.ok, report.message
        assert report.entries == self.entries


LifecycleMachine.TestCase.settings = settings(
    max_examples=25, stateful_step_count=20, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestLifecycle = LifecycleMachine.TestCase
