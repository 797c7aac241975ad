"""The console's pages on the control-plane services: what each role sees, can do and cannot."""

from __future__ import annotations

from datetime import timedelta

import pytest
from console_world import record_exchange, sign_in
from sqlalchemy import update

from zdr.control.roles import Actor, system_actor
from zdr.policy import RequestFacts
from zdr.store.tables import audit_log

OPERATOR = system_actor()
REVIEWER = Actor(user_id="reviewer-in-test", email="r@provider.test",
                 provider_roles=frozenset({"reviewer"}))
PROVIDER_PAGES = ("/reviews", "/orgs", "/holds", "/flagged", "/audit")


def privacy(client, world, org="Acme"):
    return client.get(f"/console/orgs/{world.org_ids[org]}/privacy")


# ---------------------------------------------------------------- isolation and roles

@pytest.mark.parametrize("page", ["privacy", "exchanges", "audit"])
def test_another_orgs_people_get_not_found_for_the_first_orgs_pages(client, world, page):
    sign_in(client, "owner@globex.test")
    response = client.get(f"/console/orgs/{world.org_ids['Acme']}/{page}")
    assert response.status_code == 404
    assert "Acme" not in response.text


def test_another_orgs_people_cannot_open_its_exchanges(client, world):
    record_exchange(world, "Acme", "ex_acme_1")
    sign_in(client, "owner@globex.test")
    response = client.get("/console/exchanges/ex_acme_1")
    assert response.status_code == 404 and "Acme" not in response.text


def test_another_orgs_admin_cannot_request_zdr_for_it(client, world):
    token = sign_in(client, "owner@globex.test")
    response = client.post(f"/console/orgs/{world.org_ids['Acme']}/zdr-request",
                           data={"csrf_token": token, "reason": "takeover"})
    assert response.status_code == 404
    assert world.plane.orgs.show(OPERATOR, "Acme").zdr_status == "none"


# who -> provider pages they may open (the rest: 403)
ROLE_PAGES = [
    ("member@acme.test", set()),
    ("admin@acme.test", set()),
    ("reviewer@provider.test", {"/reviews", "/orgs"}),
    ("legal@provider.test", {"/orgs", "/holds", "/audit"}),
    ("safety@provider.test", {"/orgs", "/holds", "/flagged"}),
    ("padmin@provider.test", {"/reviews", "/orgs", "/holds", "/audit"}),
]


@pytest.mark.parametrize("email, allowed", ROLE_PAGES)
def test_provider_pages_open_only_to_their_roles(client, email, allowed):
    sign_in(client, email)
    for path in PROVIDER_PAGES:
        status = client.get(f"/console{path}").status_code
        assert status == (200 if path in allowed else 403), (email, path, status)


@pytest.mark.parametrize("email", ["admin@acme.test", "owner@globex.test", "safety@provider.test",
                                   "legal@provider.test", "member@acme.test"])
def test_only_reviewers_can_approve(client, world, email):
    world.plane.arrangements.request_zdr(OPERATOR, "Acme", "please")
    token = sign_in(client, email)
    response = client.post(f"/console/reviews/{world.org_ids['Acme']}/approve",
                           data={"csrf_token": token})
    assert response.status_code in (403, 404)
    assert world.plane.orgs.show(OPERATOR, "Acme").zdr_status == "requested"


def test_signed_out_visitors_are_sent_to_sign_in_with_the_page_to_return_to(client, world):
    response = client.get(f"/console/orgs/{world.org_ids['Acme']}/privacy")
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/console/login?next=/orgs/{world.org_ids['Acme']}/privacy")


# ---------------------------------------------------------------- the privacy page

def test_privacy_page_of_a_standard_org_says_30_days_per_workspace(client, world):
    sign_in(client, "member@acme.test")
    html = privacy(client, world).text
    assert '<p class="value" data-testid="retention-headline">30 days</p>' in html
    assert "workspace override (30 days)" in html          # the research workspace
    assert "Not enabled" in html                            # HIPAA
    assert "Message Batches" in html and "29 days" in html  # a feature outside ZDR
    assert "Request zero data retention</button>" not in html   # members may not request


def test_admin_requests_zdr_and_sees_the_open_request(client, world):
    token = sign_in(client, "admin@acme.test")
    assert "Request zero data retention</button>" in privacy(client, world).text
    response = client.post(f"/console/orgs/{world.org_ids['Acme']}/zdr-request",
                           data={"csrf_token": token, "reason": "Signed addendum"})
    assert response.status_code == 303
    html = client.get(response.headers["location"]).text
    assert "Zero data retention requested." in html
    assert "Requested on" in html and "Signed addendum" in html
    assert "Request zero data retention</button>" not in html
    assert world.plane.orgs.show(OPERATOR, "Acme").zdr_status == "requested"


def test_consumer_plan_org_is_told_why_it_cannot_request(client, world):
    world.plane.accounts.create_user(OPERATOR, "owner@homebrew.test", "a long password 1",
                                     org_roles={"Homebrew": ["org_owner"]})
    token = sign_in(client, "owner@homebrew.test", "a long password 1")
    html = privacy(client, world, "Homebrew").text
    assert "only to organizations on the api or enterprise plans" in html
    assert "Request zero data retention</button>" not in html
    response = client.post(f"/console/orgs/{world.org_ids['Homebrew']}/zdr-request",
                           data={"csrf_token": token, "reason": ""})
    assert response.status_code == 400
    assert 'id="reason-error"' in response.text
    assert "only to organizations on the api or enterprise plans" in response.text


def test_team_plan_org_cannot_request_zdr_from_the_console(client, world):
    """A team org (not only a consumer one) is told why, and its form post is refused."""
    world.plane.orgs.create(OPERATOR, "Teamco", "team")
    world.plane.accounts.create_user(OPERATOR, "owner@teamco.test", "a long password 1",
                                     org_roles={"Teamco": ["org_owner"]})
    token = sign_in(client, "owner@teamco.test", "a long password 1")
    org_id = world.plane.orgs.show(OPERATOR, "Teamco").id
    html = client.get(f"/console/orgs/{org_id}/privacy").text
    assert "the plan of this organization is team" in html
    assert "Request zero data retention</button>" not in html
    response = client.post(f"/console/orgs/{org_id}/zdr-request",
                           data={"csrf_token": token, "reason": "please"})
    assert response.status_code == 400
    assert "only to organizations on the api or enterprise plans" in response.text
    assert world.plane.orgs.show(OPERATOR, "Teamco").zdr_status == "none"


def test_too_long_reason_is_reported_next_to_the_field(client, world):
    token = sign_in(client, "admin@acme.test")
    response = client.post(f"/console/orgs/{world.org_ids['Acme']}/zdr-request",
                           data={"csrf_token": token, "reason": "x" * 2500})
    assert response.status_code == 400
    assert 'aria-invalid="true" aria-describedby="reason-error"' in response.text


def test_privacy_page_after_approval_shows_zdr_in_force_and_covered_model_access(client, world):
    world.plane.arrangements.request_zdr(OPERATOR, "Acme", "please")
    world.plane.arrangements.approve_zdr(REVIEWER, "Acme")
    sign_in(client, "member@acme.test")
    html = privacy(client, world).text
    assert "Zero data retention — approved on " in html and ", in force since " in html
    assert "Usable from: <strong>research</strong>." in html
    assert "<code>zero</code>" in html and "<code>30d</code>" in html


def test_privacy_page_before_the_effective_date_says_in_force_from(client, world):
    world.plane.arrangements.request_zdr(OPERATOR, "Acme", "please")
    later = world.plane.ctx.now() + timedelta(days=3)
    world.plane.arrangements.approve_zdr(REVIEWER, "Acme", effective_at=later)
    sign_in(client, "member@acme.test")
    html = privacy(client, world).text
    assert f"in force from {later:%Y-%m-%d %H:%M} UTC" in html
    assert "Usable from: <strong>default</strong>, <strong>research</strong>." in html


def test_privacy_page_shows_hipaa_and_the_baa_version(client, world):
    world.plane.arrangements.accept_baa(OPERATOR, "Acme", "2026-03")
    sign_in(client, "member@acme.test")
    html = privacy(client, world).text
    assert "Enabled — BAA version 2026-03, accepted on " in html
    assert "Under your BAA" in html and ">refused<" in html


def test_enterprise_custom_period_is_shown(client, world):
    world.plane.arrangements.set_retention(OPERATOR, "Globex", 90)
    sign_in(client, "owner@globex.test")
    html = privacy(client, world, "Globex").text
    assert "90 days (custom retention period)" in html
    assert "the organization&#39;s custom period" in html


# ---------------------------------------------------------------- the reviewer queue

def test_reviewer_queue_is_empty_then_lists_the_request(client, world):
    sign_in(client, "reviewer@provider.test")
    assert "No pending requests." in client.get("/console/reviews").text
    world.plane.arrangements.request_zdr(OPERATOR, "Acme", "Signed addendum")
    html = client.get("/console/reviews").text
    assert "Acme" in html and "Signed addendum" in html and "Globex" not in html


def test_reviewer_approves_with_an_effective_date(client, world):
    world.plane.arrangements.request_zdr(OPERATOR, "Acme", "please")
    token = sign_in(client, "reviewer@provider.test")
    later = world.plane.ctx.now() + timedelta(days=1)
    response = client.post(f"/console/reviews/{world.org_ids['Acme']}/approve", data={
        "csrf_token": token, "effective_at": later.strftime("%Y-%m-%dT%H:%M"), "note": "ok"})
    assert response.status_code == 303
    org = world.plane.orgs.show(OPERATOR, "Acme")
    assert org.zdr_status == "approved"
    assert org.zdr_effective_at is not None
    assert org.zdr_effective_at.strftime("%Y-%m-%dT%H:%M") == later.strftime("%Y-%m-%dT%H:%M")
    assert world.plane.orgs.show(OPERATOR, "Globex").zdr_status == "none"   # siblings untouched


@pytest.mark.parametrize("value, message", [
    ("next tuesday", "Enter the date and time as YYYY-MM-DD HH:MM (UTC)."),
    ("2020-01-01T00:00", "effective_at must not be in the past"),
])
def test_bad_effective_date_is_reported_next_to_the_field(client, world, value, message):
    world.plane.arrangements.request_zdr(OPERATOR, "Acme", "please")
    token = sign_in(client, "reviewer@provider.test")
    response = client.post(f"/console/reviews/{world.org_ids['Acme']}/approve",
                           data={"csrf_token": token, "effective_at": value})
    assert response.status_code == 400
    assert 'id="effective_at-error"' in response.text and message in response.text
    assert world.plane.orgs.show(OPERATOR, "Acme").zdr_status == "requested"


def test_deny_needs_a_note_and_the_org_sees_it(client, world):
    world.plane.arrangements.request_zdr(OPERATOR, "Acme", "please")
    token = sign_in(client, "reviewer@provider.test")
    url = f"/console/reviews/{world.org_ids['Acme']}/deny"
    missing = client.post(url, data={"csrf_token": token, "note": ""})
    assert missing.status_code == 400 and 'id="note-error"' in missing.text
    assert client.post(url, data={"csrf_token": token, "note": "No addendum signed"}
                       ).status_code == 303
    assert world.plane.orgs.show(OPERATOR, "Acme").zdr_status == "denied"
    client.cookies.clear()
    sign_in(client, "member@acme.test")
    html = privacy(client, world).text
    assert "denied" in html and "No addendum signed" in html


def test_a_reviewer_cannot_approve_their_own_request(client, world):
    token = sign_in(client, "padmin@provider.test")
    client.post(f"/console/orgs/{world.org_ids['Acme']}/zdr-request",
                data={"csrf_token": token, "reason": "mine"})
    response = client.post(f"/console/reviews/{world.org_ids['Acme']}/approve",
                           data={"csrf_token": token})
    assert response.status_code == 403
    assert "must not be its requester" in response.text


# ---------------------------------------------------------------- organizations, holds

def test_organizations_overview(client, world):
    world.plane.orgs.delete(OPERATOR, "Homebrew")
    sign_in(client, "padmin@provider.test")
    html = client.get("/console/orgs").text
    for text in ("Acme", "Globex", "Homebrew", "enterprise", "restorable until", "none"):
        assert text in html


def test_legal_places_and_releases_a_hold(client, world):
    token = sign_in(client, "legal@provider.test")
    assert "No standing holds." in client.get("/console/holds").text
    missing = client.post("/console/holds", data={"csrf_token": token, "org": "",
                                                  "scope": "org", "reason": ""})
    assert missing.status_code == 400
    assert 'id="org-error"' in missing.text and 'id="reason-error"' in missing.text
    placed = client.post("/console/holds", data={
        "csrf_token": token, "org": world.org_ids["Globex"], "scope": "org",
        "reason": "Matter 114"})
    assert placed.status_code == 303
    [hold] = world.plane.holds.list(OPERATOR)
    assert hold.kind == "legal" and hold.reason == "Matter 114"
    assert "1 active" in client.get("/console/orgs").text
    released = client.post(f"/console/holds/{hold.id}/release", data={"csrf_token": token})
    assert released.status_code == 303
    assert world.plane.holds.list(OPERATOR) == []


def test_workspace_hold_with_unknown_workspace_is_reported_next_to_the_field(client, world):
    token = sign_in(client, "safety@provider.test")
    response = client.post("/console/holds", data={
        "csrf_token": token, "org": world.org_ids["Acme"], "scope": "workspace",
        "workspace": "nope", "reason": "investigation"})
    assert response.status_code == 400
    assert 'id="workspace-error"' in response.text and "Workspace not found." in response.text


def test_provider_admin_sees_holds_but_cannot_place_them(client, world):
    token = sign_in(client, "padmin@provider.test")
    html = client.get("/console/holds").text
    assert "Place a hold" not in html
    response = client.post("/console/holds", data={
        "csrf_token": token, "org": world.org_ids["Acme"], "scope": "org", "reason": "x"})
    assert response.status_code == 403


# ---------------------------------------------------------------- exchanges: why kept

def test_why_page_renders_the_stored_decision_of_a_zdr_exchange(client, world):
    world.plane.arrangements.request_zdr(OPERATOR, "Acme", "please")
    world.plane.arrangements.approve_zdr(REVIEWER, "Acme")
    meta = record_exchange(world, "Acme", "ex_zdr_1")
    sign_in(client, "member@acme.test")
    html = client.get("/console/exchanges/ex_zdr_1").text
    assert "Zero data retention applied: content is not written anywhere." in html
    for hit in meta.decision.rules:
        assert f"<code>{hit.id}</code>" in html
    assert "zdr-retention: zero" in html
    listing = client.get(f"/console/orgs/{world.org_ids['Acme']}/exchanges").text
    assert "/console/exchanges/ex_zdr_1" in listing


def test_why_page_of_a_refused_covered_model_request(client, world):
    world.plane.arrangements.request_zdr(OPERATOR, "Acme", "please")
    world.plane.arrangements.approve_zdr(REVIEWER, "Acme")
    record_exchange(world, "Acme", "ex_covered",
                    facts=RequestFacts(surface="messages", model="claude-mythos-5"))
    sign_in(client, "admin@acme.test")
    html = client.get("/console/exchanges/ex_covered").text
    assert "refused" in html and "covered_model.rejected" in html
    assert "must have data retention enabled" in html


def test_why_page_of_a_standard_exchange_names_the_period(client, world):
    record_exchange(world, "Acme", "ex_std")
    sign_in(client, "admin@acme.test")
    html = client.get("/console/exchanges/ex_std").text
    assert "retention.default_period" in html and "kept 30 days" in html
    assert "Zero data retention does not apply to this request." in html


def test_unknown_exchange_is_not_found(client):
    sign_in(client, "padmin@provider.test")
    assert client.get("/console/exchanges/ex_missing").status_code == 404


def test_empty_states(client, world):
    sign_in(client, "admin@acme.test")
    assert "No requests yet." in client.get(
        f"/console/orgs/{world.org_ids['Acme']}/exchanges").text
    client.cookies.clear()
    sign_in(client, "safety@provider.test")
    assert "Nothing flagged." in client.get("/console/flagged").text


# ---------------------------------------------------------------- flagged content, audit

def test_trust_and_safety_reads_flagged_content_and_the_read_is_audited(client, world):
    record_exchange(world, "Globex", "ex_flag", flagged_text="flagged canary 7f3a")
    token = sign_in(client, "safety@provider.test")
    listing = client.get("/console/flagged").text
    assert "ex_flag" in listing and "flagged canary 7f3a" not in listing
    record_id = world.plane.flagged.list(system_actor_with("trust_safety"), "Globex")[0].id
    response = client.post(f"/console/flagged/{record_id}", data={"csrf_token": token})
    assert response.status_code == 200 and "flagged canary 7f3a" in response.text
    actions = [e.action for e in world.plane.audit.list(OPERATOR, limit=1000)]
    assert actions[-1] == "flagged.read"


def test_nobody_but_trust_and_safety_reads_flagged_content(client, world):
    record_exchange(world, "Globex", "ex_flag", flagged_text="flagged canary 7f3a")
    record_id = world.plane.flagged.list(system_actor_with("trust_safety"), "Globex")[0].id
    for email in ("owner@globex.test", "legal@provider.test", "padmin@provider.test"):
        client.cookies.clear()
        token = sign_in(client, email)
        response = client.post(f"/console/flagged/{record_id}", data={"csrf_token": token})
        assert response.status_code in (403, 404)
        assert "flagged canary 7f3a" not in response.text


def test_no_content_appears_on_the_org_pages(client, world):
    record_exchange(world, "Globex", "ex_flag", flagged_text="flagged canary 7f3a")
    sign_in(client, "owner@globex.test")
    for path in (f"/orgs/{world.org_ids['Globex']}/privacy",
                 f"/orgs/{world.org_ids['Globex']}/exchanges", "/exchanges/ex_flag",
                 f"/orgs/{world.org_ids['Globex']}/audit"):
        response = client.get(f"/console{path}")
        assert response.status_code == 200 and "flagged canary 7f3a" not in response.text


def test_audit_page_shows_the_chain_verifies_then_names_the_edited_entry(client, world):
    sign_in(client, "legal@provider.test")
    html = client.get("/console/audit").text
    assert "The chain verifies." in html and "org.create" in html
    with world.plane.ctx.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 2).values(actor="mallory"))
    html = client.get("/console/audit").text
    assert "The chain does not verify:" in html and "entry 2 was edited" in html


def test_org_admins_see_only_their_orgs_audit_entries(client, world):
    world.plane.arrangements.request_zdr(OPERATOR, "Globex", "theirs")
    sign_in(client, "admin@acme.test")
    html = client.get(f"/console/orgs/{world.org_ids['Acme']}/audit").text
    assert "Acme" in html and "Globex" not in html
    assert "chain-status" not in html         # verifying the whole chain is a provider's job


def test_members_may_not_read_the_audit_log(client, world):
    sign_in(client, "member@acme.test")
    assert client.get(f"/console/orgs/{world.org_ids['Acme']}/audit").status_code == 403


def system_actor_with(role: str) -> Actor:
    return Actor(user_id="test", email="test@provider", provider_roles=frozenset({role}))


def test_reviewer_revokes_zdr_with_a_reason(client, world):
    world.plane.arrangements.request_zdr(OPERATOR, "Acme", "please")
    world.plane.arrangements.approve_zdr(REVIEWER, "Acme")
    token = sign_in(client, "reviewer@provider.test")
    assert "Revoke ZDR" in client.get("/console/orgs").text
    url = f"/console/reviews/{world.org_ids['Acme']}/revoke"
    assert client.post(url, data={"csrf_token": token, "note": ""}).status_code == 422
    assert world.plane.orgs.show(OPERATOR, "Acme").zdr_status == "approved"
    assert client.post(url, data={"csrf_token": token, "note": "Addendum ended"}
                       ).status_code == 303
    assert world.plane.orgs.show(OPERATOR, "Acme").zdr_status == "revoked"
    client.cookies.clear()
    sign_in(client, "member@acme.test")
    assert '<p class="value" data-testid="retention-headline">30 days</p>' in privacy(
        client, world).text


@pytest.mark.parametrize("email, method, path", [
    ("safety@provider.test", "POST", "/console/flagged/99999999999999999999999"),
    ("safety@provider.test", "POST", "/console/flagged/0"),
    ("legal@provider.test", "GET", "/console/audit?before=99999999999999999999999"),
    ("legal@provider.test", "GET", "/console/audit?before=-1"),
    ("admin@acme.test", "GET", "/console/exchanges/" + "x" * 500),
])
def test_out_of_range_ids_get_a_clear_answer_not_a_server_error(client, email, method, path):
    token = sign_in(client, email)
    response = client.request(method, path, data={"csrf_token": token} if method == "POST"
                              else None)
    assert response.status_code in (200, 404), response.status_code


def test_privacy_page_says_claude_code_feedback_is_kept_five_years(client, world):
    """Settings > Privacy Controls lists the /feedback and /bug transcript with its 5 years."""
    sign_in(client, "member@acme.test")
    html = privacy(client, world).text
    assert "Claude Code feedback submission (/feedback, /bug)" in html
    assert "its feedback transcript" in html and "1,825 days (5 years)" in html
