"""Hypothesis properties: the policy's invariants hold for any arrangement and request."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from policy_world import NOW

from zdr.catalog import default_catalog
from zdr.policy import Arrangements, OrgState, RequestFacts, WorkspaceState, decide
from zdr.policy.invariants import DESIGN_FLOOR, Case, violations

CATALOG = default_catalog()
FEATURES = sorted(CATALOG.features)
MODELS = ["claude-sonnet-4-5", "claude-opus-4-1", "claude-mythos-5", "claude-fable-5-20260609",
          "claude-mythos-preview", None]

plans = st.sampled_from(sorted(CATALOG.plans))
statuses = st.sampled_from(["none", "requested", "approved", "denied", "revoked"])
key_kinds = st.sampled_from(sorted(CATALOG.key_kinds))
surfaces = st.sampled_from(sorted(CATALOG.surfaces))
overrides = st.one_of(st.none(), st.integers(min_value=0, max_value=5000))
custom = st.one_of(st.none(), st.integers(min_value=-10, max_value=5000))
offsets = st.integers(min_value=-400, max_value=400)
feature_sets = st.frozensets(st.sampled_from(FEATURES), max_size=6)
BETAS = [*sorted(CATALOG.betas), "not-in-the-catalog-2099-01-01"]
beta_lists = st.lists(st.sampled_from(BETAS), max_size=8, unique=True).map(tuple)


def zdr_applies(arr: Arrangements) -> bool:
    """Rule 1, restated: approved, in force, an api or enterprise org, no override, a key kind
    ZDR covers (a seat only of an enterprise org)."""
    org = arr.org
    in_force = (org.zdr_status == "approved" and org.plan in ("api", "enterprise")
                and org.zdr_effective_at is not None and org.zdr_effective_at <= NOW)
    seat_ok = arr.key_kind != "enterprise_seat" or org.plan == "enterprise"
    return (in_force and arr.workspace.retention_override_days is None
            and arr.key_kind in CATALOG.zdr_key_kinds and seat_ok)


@st.composite
def inputs(draw):  # type: ignore[no-untyped-def]
    status = draw(statuses)
    effective = NOW + timedelta(days=draw(offsets)) if status == "approved" else None
    hipaa = draw(st.booleans())
    org = OrgState(draw(plans), status, effective, hipaa, "2026-01" if hipaa else None,
                   draw(custom))
    arr = Arrangements(org, draw(key_kinds), WorkspaceState(draw(overrides)))
    facts = RequestFacts(draw(surfaces), draw(feature_sets), draw(st.sampled_from(MODELS)),
                         draw(st.booleans()), betas=draw(beta_lists))
    return facts, arr


@settings(max_examples=400, deadline=None)
@given(inputs())
def test_only_api_and_enterprise_orgs_get_zdr(args):
    """An org on any plan but api or enterprise, a console or consumer key, or an Enterprise
    seat of a non-enterprise org never gets zdr=applied (or partial)."""
    facts, arr = args
    decision = decide(facts, arr, CATALOG, NOW)
    if (arr.org.plan not in ("api", "enterprise") or arr.key_kind in ("console", "consumer")
            or (arr.key_kind == "enterprise_seat" and arr.org.plan != "enterprise")):
        assert decision.zdr == "none"


@settings(max_examples=400, deadline=None)
@given(inputs())
def test_hipaa_org_never_allowed_an_ineligible_feature(args):
    """A HIPAA org never has a HIPAA-ineligible feature or surface allowed."""
    facts, arr = args
    decision = decide(facts, arr, CATALOG, NOW)
    if arr.org.hipaa and decision.allowed:
        assert not facts.features & DESIGN_FLOOR.never_hipaa
        assert all(CATALOG.features[f].hipaa_eligible for f in facts.features)
        assert CATALOG.surfaces[facts.surface].hipaa_eligible
        if not zdr_applies(arr):
            assert not (facts.features | {facts.surface}) & DESIGN_FLOOR.hipaa_needs_zdr


@settings(max_examples=400, deadline=None)
@given(inputs())
def test_betas_pass_unchanged_unless_zdr_or_hipaa(args):
    """Rule 5a: an org with neither ZDR applying nor HIPAA keeps every beta, in order; otherwise
    only catalog betas eligible under the arrangement reach the upstream, and none the Claude
    Code CLI sends is removed while ZDR applies."""
    facts, arr = args
    decision = decide(facts, arr, CATALOG, NOW)
    if not decision.allowed:
        return
    zdr = zdr_applies(arr)
    assert sorted(decision.betas_kept + decision.betas_removed) == sorted(facts.betas)
    if not (zdr or arr.org.hipaa):
        assert decision.betas_kept == facts.betas and decision.betas_removed == ()
        return
    for beta in decision.betas_kept:
        spec = CATALOG.betas[beta]
        assert spec.zdr_eligible or not zdr
        assert not arr.org.hipaa or (spec.hipaa_eligible and (zdr or not spec.hipaa_requires_zdr))
    if zdr:
        assert not DESIGN_FLOOR.cli_betas & set(decision.betas_removed)


@settings(max_examples=400, deadline=None)
@given(inputs())
def test_zdr_applied_never_keeps_content(args):
    """Under zdr=applied, content is never kept; only flagged content (misuse exception) and a
    qualified feature's artifact may be."""
    facts, arr = args
    decision = decide(facts, arr, CATALOG, NOW)
    if decision.zdr == "applied":
        assert not decision.keep["content"].kept
        assert all(CATALOG.features[a.feature].zdr == "qualified" for a in decision.artifacts)


@settings(max_examples=400, deadline=None)
@given(inputs())
def test_periods_within_catalog_bounds(args):
    """Every kept record has a period within 1..max_days; only an artifact kept until deleted
    has none; content outside ZDR is kept at least the commercial minimum."""
    facts, arr = args
    decision = decide(facts, arr, CATALOG, NOW)
    r = CATALOG.retention
    for name, keep in decision.keep.items():
        if not keep.kept:
            continue
        if keep.days is None:
            assert name == "feature_artifact"
            assert any(a.days is None for a in decision.artifacts)
        else:
            assert 1 <= keep.days <= r.max_days
    content = decision.keep["content"]
    if content.kept:
        assert content.days is not None and content.days >= r.custom_min_days


@settings(max_examples=400, deadline=None)
@given(inputs())
def test_covered_model_never_from_zdr_scope(args):
    """A covered model is never allowed from a ZDR scope without the workspace override."""
    facts, arr = args
    decision = decide(facts, arr, CATALOG, NOW)
    zdr_scope = zdr_applies(arr)
    if (CATALOG.model_class(facts.model) == "covered" and zdr_scope
            and CATALOG.surfaces[facts.surface].carries_content):
        assert not decision.allowed


@settings(max_examples=300, deadline=None)
@given(inputs())
def test_refusals_keep_metadata_only_and_every_decision_has_reasons(args):
    """A refused request keeps nothing but metadata; every decision says why."""
    facts, arr = args
    decision = decide(facts, arr, CATALOG, NOW)
    assert decision.rules and all(hit.reason for hit in decision.rules)
    if not decision.allowed:
        assert [k for k, v in decision.keep.items() if v.kept] == ["metadata"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(CATALOG.plans)),
       st.sampled_from(["none", "requested", "approved", "denied", "revoked"]),
       st.booleans(), key_kinds, surfaces, st.sampled_from(["standard", "covered"]),
       st.sampled_from([None, 30, 90]), st.lists(st.sampled_from(FEATURES), max_size=2,
                                                 unique=True))
def test_exhaustive_checker_agrees_on_random_cases(plan, zdr, hipaa, key, surface, model_class,
                                                   override, features):
    """The invariants `zdr policy check` enforces hold on random cases of its domain too."""
    model = "claude-mythos-5" if model_class == "covered" else "claude-sonnet-4-5"
    case = Case(plan, zdr, hipaa, key, surface, model_class, override, tuple(sorted(features)))
    effective = NOW - timedelta(days=1) if zdr == "approved" else None
    org = OrgState(plan, zdr, effective, hipaa, "2026-01" if hipaa else None)  # type: ignore[arg-type]
    decision = decide(RequestFacts(surface, frozenset(features), model),
                      Arrangements(org, key, WorkspaceState(override)), CATALOG, NOW)
    assert violations(case, decision, CATALOG, NOW) == []
