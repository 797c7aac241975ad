"""Each rule of docs/DESIGN.md §2, one parameter table per rule, evaluated through `decide`."""

from __future__ import annotations

import pytest
from policy_world import NOW, arrangements

from zdr.policy import RequestFacts, decide
from zdr.policy.rules import REFUSING_RULES, Scope, zdr_scope

STD_MODEL = "claude-sonnet-4-5"
COVERED = "claude-mythos-5"


def facts(surface: str = "messages", *features: str, model: str = STD_MODEL,
          browser: bool = False) -> RequestFacts:
    return RequestFacts(surface, frozenset(features), model, browser)


# ---------------------------------------------------------------- rule 1: scope
SCOPE_CASES = [
    # (arrangements, surface, expected rule id, expected zdr state)
    # approved, in force, api key, eligible surface: the one way to ZDR
    (arrangements("api", "approved"), "messages", "scope.zdr_in_force", "applied"),
    # enterprise orgs too, also with an Enterprise seat (Claude Code for Enterprise)
    (arrangements("enterprise", "approved"), "count_tokens", "scope.zdr_in_force", "applied"),
    (arrangements("enterprise", "approved", key="enterprise_seat"), "claude_code_enterprise",
     "scope.zdr_in_force", "applied"),
    # only api and enterprise orgs can hold ZDR: the plan is re-checked whatever the status says
    (arrangements("team", "approved"), "count_tokens", "scope.plan_not_eligible", "none"),
    (arrangements("free", "approved"), "messages", "scope.plan_not_eligible", "none"),
    (arrangements("pro", "approved"), "messages", "scope.plan_not_eligible", "none"),
    (arrangements("max", "approved"), "messages", "scope.plan_not_eligible", "none"),
    # an Enterprise seat key of a non-enterprise org never gets ZDR
    (arrangements("api", "approved", key="enterprise_seat"), "claude_code_enterprise",
     "scope.key_kind_plan", "none"),
    # every status but approved leaves ZDR out
    (arrangements("api", "none"), "messages", "scope.zdr_not_in_force", "none"),
    (arrangements("api", "requested"), "messages", "scope.zdr_not_in_force", "none"),
    (arrangements("api", "denied"), "messages", "scope.zdr_not_in_force", "none"),
    (arrangements("api", "revoked"), "messages", "scope.zdr_not_in_force", "none"),
    # approved but effective tomorrow: not yet in force
    (arrangements("api", "approved", effective_in_days=1), "messages",
     "scope.zdr_not_yet_effective", "none"),
    # a workspace override takes the workspace out of ZDR
    (arrangements("api", "approved", override=30), "messages", "scope.workspace_override", "none"),
    # the models surface carries no content
    (arrangements("api", "approved"), "models", "scope.no_content", "none"),
    # console and consumer surfaces are never covered
    (arrangements("api", "approved", key="console"), "console", "scope.surface_ineligible", "none"),
    (arrangements("api", "approved", key="consumer"), "consumer", "scope.surface_ineligible",
     "none"),
    # a console key on a Messages route (impossible via extraction, possible in the domain)
    (arrangements("api", "approved", key="console"), "messages", "scope.key_kind_ineligible",
     "none"),
    # batches and files run under ZDR but keep their own data
    (arrangements("api", "approved"), "batches", "scope.surface_not_covered", "partial"),
    (arrangements("api", "approved"), "files", "scope.surface_not_covered", "partial"),
]


@pytest.mark.parametrize(("arr", "surface", "rule", "zdr"), SCOPE_CASES)
def test_scope_rule(catalog, arr, surface, rule, zdr):
    """Rule 1 names why ZDR does or does not apply, and the decision's ZDR state follows it."""
    features = {"batches": ("batches",), "files": ("files",)}.get(surface, ())
    decision = decide(facts(surface, *features), arr, catalog, NOW)
    assert decision.allowed
    assert decision.rules[0].id == rule
    assert decision.zdr == zdr


# ---------------------------------------------------------------- rule 2: HIPAA
HIPAA_CASES = [
    # (surface, features, allowed, features named in the error)
    # eligible features only: allowed
    ("messages", ("thinking", "structured_outputs", "prompt_caching"), True, ""),
    # the seed article: the BAA does not cover web search
    ("messages", ("web_search",), False, "web_search"),
    # several ineligible features are all named, sorted, by catalog id
    ("messages", ("mcp_connector", "code_execution", "thinking"), False,
     "code_execution, mcp_connector"),
    # ineligible surfaces are named too
    ("batches", ("batches",), False, "batches"),
    ("files", ("files",), False, "files"),
    ("console", (), False, "console"),
    # memory tool and client tools are eligible
    ("messages", ("memory", "bash", "computer_use", "text_editor"), True, ""),
]


@pytest.mark.parametrize(("surface", "features", "allowed", "named"), HIPAA_CASES)
def test_hipaa_rule(catalog, surface, features, allowed, named):
    """Rule 2: a HIPAA org gets 400 naming every ineligible feature; metadata only is kept."""
    key = "console" if surface == "console" else "api"
    decision = decide(facts(surface, *features), arrangements("enterprise", hipaa=True, key=key),
                      catalog, NOW)
    assert decision.allowed is allowed
    if allowed:
        assert "hipaa.eligible" in [h.id for h in decision.rules]
        return
    assert decision.error is not None
    assert (decision.error.status, decision.error.type) == (400, "invalid_request_error")
    assert f": {named}." in decision.error.message
    assert [k for k, v in decision.keep.items() if v.kept] == ["metadata"]


HIPAA_ZDR_CASES = [
    # (surface, features, zdr status, key, allowed)
    # web fetch, tool search, context editing and compaction: only with ZDR in force
    ("messages", ("web_fetch",), "none", "api", False),
    ("messages", ("web_fetch", "tool_search", "context_editing", "compaction"), "approved", "api",
     True),
    ("messages", ("context_editing",), "none", "api", False),
    # Claude Code (both surfaces): BAA-covered only with ZDR in force
    ("claude_code_api", (), "none", "api", False),
    ("claude_code_api", ("context_editing",), "approved", "api", True),
    ("claude_code_enterprise", (), "none", "enterprise_seat", False),
    ("claude_code_enterprise", ("context_editing",), "approved", "enterprise_seat", True),
]


@pytest.mark.parametrize(("surface", "features", "status", "key", "allowed"), HIPAA_ZDR_CASES)
def test_hipaa_needs_zdr_in_force(catalog, surface, features, status, key, allowed):
    """Rule 2: some features and Claude Code are BAA-covered only with ZDR in force; without it
    the provider's own words name them."""
    decision = decide(facts(surface, *features), arrangements("enterprise", status, hipaa=True,
                                                               key=key), catalog, NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.error is not None
        assert (decision.error.status, decision.error.type) == (400, "invalid_request_error")
        assert ("not available for HIPAA-regulated organizations without Zero Data Retention: "
                in decision.error.message)


def test_hipaa_zdr_with_workspace_override_is_not_zdr(catalog):
    """A workspace override takes ZDR out of force for the request: Claude Code is refused."""
    arr = arrangements("enterprise", "approved", hipaa=True, override=30)
    assert not decide(facts("claude_code_api"), arr, catalog, NOW).allowed


@pytest.mark.parametrize("surface", ["claude_code_api", "claude_code_enterprise"])
def test_hipaa_covered_model_never_in_claude_code(catalog, surface):
    """Covered models are never BAA-covered in Claude Code, with ZDR or without."""
    key = "enterprise_seat" if surface == "claude_code_enterprise" else "api"
    for status, override in (("approved", None), ("approved", 30), ("none", None)):
        decision = decide(facts(surface, model=COVERED), arrangements(
            "enterprise", status, hipaa=True, key=key, override=override), catalog, NOW)
        assert not decision.allowed
        assert decision.error is not None and decision.error.status == 400
        assert f"covered_model ({COVERED} in {surface})" in decision.error.message
    # a covered model on the Messages surface of a HIPAA org without ZDR is not a HIPAA matter
    assert decide(facts(model=COVERED), arrangements("enterprise", hipaa=True), catalog,
                  NOW).allowed


READ_CASES = [
    # (surface, method, allowed): reading or deleting what the org has; creating is refused
    ("files", "GET", True),
    ("files", "DELETE", True),
    ("batches", "GET", True),
    ("batches", "DELETE", True),
    ("files", "POST", False),
    ("batches", "POST", False),       # creating, and cancelling, stay refused
]


@pytest.mark.parametrize(("surface", "method", "allowed"), READ_CASES)
def test_hipaa_may_read_and_delete_its_own(catalog, surface, method, allowed):
    """Rule 2: a HIPAA org may read and delete its own files and batches."""
    request_facts = RequestFacts(surface, frozenset({surface}), None, method=method)
    decision = decide(request_facts, arrangements("enterprise", hipaa=True), catalog, NOW)
    assert decision.allowed is allowed
    assert not decision.content_kept
    ids = [h.id for h in decision.rules]
    assert ("hipaa.read_or_delete_existing" in ids) is allowed


def test_hipaa_read_with_another_ineligible_feature_is_refused(catalog):
    """The read exemption covers the surface's own feature only."""
    request_facts = RequestFacts("files", frozenset({"files", "code_execution"}), None,
                                 method="GET")
    decision = decide(request_facts, arrangements("enterprise", hipaa=True), catalog, NOW)
    assert not decision.allowed


def test_hipaa_off_ignores_eligibility(catalog):
    """Without HIPAA, web search is just a feature."""
    decision = decide(facts("messages", "web_search"), arrangements("api"), catalog, NOW)
    assert decision.allowed
    assert not any(h.id.startswith("hipaa.") for h in decision.rules)


# ---------------------------------------------------------------- rule 3: covered models
COVERED_CASES = [
    # (arrangements, model, allowed, content days)
    # ZDR scope without override: refused with the exact message
    (arrangements("api", "approved"), COVERED, False, None),
    # the preview and Fable are in the same class
    (arrangements("api", "approved"), "claude-mythos-preview", False, None),
    (arrangements("enterprise", "approved"), "claude-fable-5", False, None),
    # the workspace override makes it usable, content kept >= 30 days
    (arrangements("api", "approved", override=30), COVERED, True, 30),
    (arrangements("api", "approved", override=90), COVERED, True, 90),
    # an override below 30 days is raised to the covered-model minimum
    (arrangements("api", "approved", override=1), COVERED, True, 30),
    # an org without ZDR keeps content anyway
    (arrangements("api"), COVERED, True, 30),
    # a standard model under ZDR is untouched by this rule
    (arrangements("api", "approved"), STD_MODEL, True, None),
    # a name that merely contains the word is not covered
    (arrangements("api", "approved"), "my-claude-mythos-5", True, None),
    # model ids are compared case-insensitively
    (arrangements("api", "approved"), "Claude-Mythos-5", False, None),
    (arrangements("api", "approved"), "CLAUDE-FABLE-5", False, None),
]


@pytest.mark.parametrize(("arr", "model", "allowed", "days"), COVERED_CASES)
def test_covered_model_rule(catalog, arr, model, allowed, days):
    """Rule 3: covered models need data retention."""
    decision = decide(facts(model=model), arr, catalog, NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.error is not None
        assert decision.error.message == (
            "In order to access this model, your organization or workspace must have data "
            "retention enabled.")
        assert "covered_model.rejected" in [h.id for h in decision.rules]
    else:
        assert decision.keep["content"].days == days


def test_covered_model_listing_is_not_a_call(catalog):
    """Describing a covered model (models surface) from a ZDR scope is allowed: no content."""
    decision = decide(facts("models", model=COVERED), arrangements("api", "approved"), catalog,
                      NOW)
    assert decision.allowed
    assert decision.model_class == "covered"


# ---------------------------------------------------------------- rule 4: browser access
BROWSER_CASES = [
    # (arrangements, browser, allowed)
    # a ZDR org from a browser: refused
    (arrangements("api", "approved"), True, False),
    # also from a workspace with an override: the org has ZDR
    (arrangements("api", "approved", override=30), True, False),
    # ZDR org from a backend: fine
    (arrangements("api", "approved"), False, True),
    # no ZDR: browsers are allowed
    (arrangements("api"), True, True),
    # ZDR not yet in force: allowed
    (arrangements("api", "approved", effective_in_days=2), True, True),
    # a team org's stored "approved" is not ZDR: allowed
    (arrangements("team", "approved"), True, True),
]


@pytest.mark.parametrize(("arr", "browser", "allowed"), BROWSER_CASES)
def test_browser_rule(catalog, arr, browser, allowed):
    """Rule 4: ZDR traffic must come from a backend."""
    decision = decide(facts(browser=browser), arr, catalog, NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.error is not None
        assert (decision.error.status, decision.error.type) == (403, "permission_error")
        assert decision.rules[-2].id == "browser.rejected"


# ---------------------------------------------------------------- rule 5: Claude Code Enterprise
CLAUDE_CODE_CASES = [
    # (surface, feature, zdr status, allowed)
    # feedback and remote sessions store data server-side: refused under ZDR
    ("claude_code_enterprise", "claude_code_feedback", "approved", False),
    ("claude_code_enterprise", "claude_code_remote_session", "approved", False),
    # without ZDR they are allowed (their artifact is kept)
    ("claude_code_enterprise", "claude_code_feedback", "none", True),
    # with an org API key (claude_code_api) the rule does not apply: ZDR is partial instead
    ("claude_code_api", "claude_code_remote_session", "approved", True),
]


@pytest.mark.parametrize(("surface", "feature", "status", "allowed"), CLAUDE_CODE_CASES)
def test_claude_code_enterprise_rule(catalog, surface, feature, status, allowed):
    """Rule 5: Claude Code Enterprise under ZDR refuses server-side storage."""
    key = "enterprise_seat" if surface == "claude_code_enterprise" else "api"
    decision = decide(facts(surface, feature), arrangements("enterprise", status, key=key),
                      catalog, NOW)
    assert decision.allowed is allowed
    if not allowed:
        assert decision.error is not None
        assert decision.error.status == 403
        assert feature in decision.error.message


# ---------------------------------------------------------------- order and fail-closed rule
def test_rules_run_in_design_order():
    """Unknown features first (fail closed), then rules 1 to 5 in the design's order."""
    assert [r.__name__ for r in REFUSING_RULES] == [
        "well_formed", "known_features", "zdr_scope", "hipaa", "covered_model", "browser_access",
        "claude_code_enterprise",
    ]


def test_first_refusal_wins_and_earlier_reasons_stay(catalog):
    """A HIPAA org, a covered model and a browser: the HIPAA refusal (rule 2) is the answer."""
    decision = decide(facts("messages", "web_search", model=COVERED, browser=True),
                      arrangements("enterprise", "approved", hipaa=True), catalog, NOW)
    ids = [h.id for h in decision.rules]
    assert ids == ["scope.zdr_in_force", "hipaa.ineligible_features",
                   "retention.rejected_metadata_only"]


UNKNOWN_CASES = [
    # (facts, arrangements, named)
    # an unknown tool type found by extraction
    (RequestFacts("messages", unknown_features=frozenset({"tool:advisor_20260301"})),
     arrangements(), "tool:advisor_20260301"),
    # a feature id the catalog lacks
    (RequestFacts("messages", frozenset({"teleportation"})), arrangements(), "teleportation"),
    # an unknown surface, plan and key kind
    (RequestFacts("telepathy"), arrangements(), "surface:telepathy"),
    (RequestFacts("messages"), arrangements("galactic"), "plan:galactic"),
    (RequestFacts("messages"), arrangements(key="robot"), "key_kind:robot"),
]


@pytest.mark.parametrize(("request_facts", "arr", "named"), UNKNOWN_CASES)
def test_unknown_anything_is_refused(catalog, request_facts, arr, named):
    """Fail closed: what the catalog does not know is refused, kept as metadata only."""
    decision = decide(request_facts, arr, catalog, NOW)
    assert not decision.allowed
    assert decision.rules[0].id == "fail_closed.unknown_feature"
    assert named in decision.error.message
    assert not decision.keep["content"].kept


def test_scope_rule_direct(catalog):
    """The rule functions are plain callables over a Scope (no decide needed)."""
    scope = Scope(facts(), arrangements("api", "approved"), catalog, True, True, "standard")
    hits, error = zdr_scope(scope)
    assert error is None
    assert [h.id for h in hits] == ["scope.zdr_in_force"]
