"""The console's pure parts: the session codec, the privacy summary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from zdr.catalog import default_catalog
from zdr.console.privacy import WorkspaceRow, ZdrRequestRow, period, probe_model, summarize
from zdr.console.sessions import SessionCodec, new_session, signed_in_session
from zdr.policy import OrgState

NOW = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
CATALOG = default_catalog()


# ---------------------------------------------------------------- sessions

def test_a_session_round_trips_through_its_cookie():
    codec = SessionCodec(b"k" * 32)
    session = signed_in_session(1000.0, "token-1", "user-1")
    assert codec.decode(codec.encode(session), 1001.0) == session


@pytest.mark.parametrize("mangle", [
    lambda v: v[:-2] + ("AA" if not v.endswith("AA") else "BB"),   # signature changed
    lambda v: "e30" + v[3:],                                       # payload changed
    lambda v: v.replace(".", ""),                                  # no separator
    lambda v: v + "." + v,                                         # two separators
    lambda v: "",                                                  # empty
    lambda v: "x" * 2000,                                          # oversized
    lambda v: "!!!.???",                                           # not base64
])
def test_a_forged_or_malformed_cookie_is_no_session(mangle):
    codec = SessionCodec(b"k" * 32)
    value = codec.encode(signed_in_session(1000.0, "token-1", "user-1"))
    assert codec.decode(mangle(value), 1001.0) is None


def test_a_cookie_signed_with_another_secret_is_no_session():
    value = SessionCodec(b"a" * 32).encode(signed_in_session(1000.0, "t", "u"))
    assert SessionCodec(b"b" * 32).decode(value, 1001.0) is None


def test_sessions_expire():
    codec = SessionCodec(b"k" * 32)
    signed_in = signed_in_session(1000.0, "t", "u")
    anonymous = new_session(1000.0)
    assert codec.decode(codec.encode(signed_in), 1000.0 + 8 * 3600 - 1) is not None
    assert codec.decode(codec.encode(signed_in), 1000.0 + 8 * 3600 + 1) is None
    assert codec.decode(codec.encode(anonymous), 1000.0 + 2 * 3600 + 1) is None
    assert codec.decode(codec.encode(signed_in), 1000.0 - 3600) is None   # issued in the future


def test_a_short_secret_is_refused():
    with pytest.raises(ValueError, match="at least 32 bytes"):
        SessionCodec(b"short")


# ---------------------------------------------------------------- the privacy summary

def org(**values: object) -> OrgState:
    return OrgState(**{"plan": "api", "org_id": "o1", **values})  # type: ignore[arg-type]


WORKSPACES = [WorkspaceRow("w1", "default", None), WorkspaceRow("w2", "research", 30)]
APPROVED = ZdrRequestRow("r1", "approved", "addendum", NOW - timedelta(days=2),
                         NOW - timedelta(days=1), NOW - timedelta(hours=20), "ok")


@pytest.mark.parametrize("state, requests, headline", [
    # a standard org: the default period
    (org(), [], "30 days"),
    # enterprise custom period
    (org(plan="enterprise", retention_days=90), [], "90 days (custom retention period)"),
    # ZDR approved and in force: the approval date and since when
    (org(zdr_status="approved", zdr_effective_at=NOW - timedelta(hours=20)), [APPROVED],
     "Zero data retention — approved on 2026-11-24 09:30 UTC, in force since "
     "2026-11-24 13:30 UTC"),
    # ZDR approved for a later date: in force from
    (org(zdr_status="approved", zdr_effective_at=NOW + timedelta(days=1)), [APPROVED],
     "Zero data retention — approved on 2026-11-24 09:30 UTC, in force from "
     "2026-11-26 09:30 UTC"),
    # requested only: nothing changes yet
    (org(zdr_status="requested"), [], "30 days"),
    # revoked: back to the period
    (org(zdr_status="revoked"), [APPROVED], "30 days"),
    # a team org can hold no ZDR, whatever its stored status says
    (org(plan="team", zdr_status="approved", zdr_effective_at=NOW - timedelta(hours=20)),
     [APPROVED], "30 days"),
])
def test_headline_says_exactly_what_is_in_force(state, requests, headline):
    assert summarize(state, WORKSPACES, requests, CATALOG, NOW).headline == headline


def test_under_zdr_covered_models_are_usable_only_from_the_override_workspace():
    summary = summarize(org(zdr_status="approved", zdr_effective_at=NOW), WORKSPACES, [APPROVED],
                        CATALOG, NOW)
    default, research = summary.workspaces
    assert (default.retention, default.zdr_header, default.covered_models_usable) == (
        "Zero data retention", "zero", False)
    assert (research.retention, research.zdr_header, research.covered_models_usable) == (
        "30 days", "30d", True)
    assert summary.covered_usable_from == ("research",)


def test_without_zdr_covered_models_are_usable_everywhere():
    summary = summarize(org(), WORKSPACES, [], CATALOG, NOW)
    assert summary.covered_usable_from == ("default", "research")


def test_features_outside_zdr_come_from_the_catalog():
    summary = summarize(org(), [], [], CATALOG, NOW)
    labels = {f.label for f in summary.features_outside_zdr}
    expected = {spec.label for spec in CATALOG.features.values() if spec.zdr != "yes"}
    assert labels == expected
    batches = next(f for f in summary.features_outside_zdr if f.label == "Message Batches")
    assert (batches.kept, batches.period) == ("its batch", "29 days")


def test_claude_code_feedback_is_shown_with_its_five_years():
    """A /feedback or /bug transcript is kept 5 years (Claude Code's data-usage page)."""
    summary = summarize(org(), [], [], CATALOG, NOW)
    feedback = next(f for f in summary.features_outside_zdr if "/feedback" in f.label)
    assert (feedback.kept, feedback.period) == ("its feedback transcript",
                                                "1,825 days (5 years)")


def test_open_request_and_last_decision():
    requested = ZdrRequestRow("r2", "requested", "again", NOW, None, None, None)
    summary = summarize(org(zdr_status="requested"), [], [APPROVED, requested], CATALOG, NOW)
    assert summary.open_request == requested and summary.last_decision == APPROVED


def test_periods_read_naturally():
    assert [period(1), period(29), period(730), period(1825), period(None)] == [
        "24 hours", "29 days", "730 days (2 years)", "1,825 days (5 years)", "until deleted"]


def test_every_covered_pattern_has_a_probe_the_catalog_calls_covered():
    for pattern in CATALOG.models:
        if pattern.model_class == "covered":
            assert CATALOG.model_class(probe_model(pattern.pattern)) == "covered"


# ---------------------------------------------------------------- audit entries in words

def test_audit_changes_show_each_changed_field_once():
    from zdr.console.audit_views import Change, changes

    assert changes({"zdr_status": "none", "hipaa": False}, {"zdr_status": "requested",
                                                            "hipaa": False}) == (
        Change("zdr_status", "none", "requested"),)
    assert changes(None, {"name": "Acme", "plan": "api", "unset": None}) == (
        Change("name", None, "Acme"), Change("plan", None, "api"))
    assert changes({"zdr_effective_at": None}, {"zdr_effective_at": "2026-11-25"}) == (
        Change("zdr_effective_at", "—", "2026-11-25"),)
    assert changes(None, None) == ()


def test_flagged_content_is_shown_as_input_and_output_when_packed():
    from zdr.console.flagged_views import split_content
    from zdr.ports import RetainedContent
    from zdr.store.content import pack

    packed = pack(RetainedContent(request=b"the input", response=b"the output")).decode()
    assert split_content(packed) == ("the input", "the output")
    assert split_content("not packed") is None
