"""One rule, one function, applied by `decide` in the design's order (docs/DESIGN.md §2).

Each rule reads the `Scope` (what is already known) and returns `RuleHit`s to record and, for the
rules that can refuse a request, a `PolicyError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from zdr.catalog.schema import Catalog
from zdr.policy.decision import PolicyError, RuleHit
from zdr.policy.facts import Arrangements, RequestFacts

INVALID = "invalid_request_error"
PERMISSION = "permission_error"


@dataclass(frozen=True, slots=True)
class Scope:
    """Derived once per decision: where ZDR stands for this request."""

    facts: RequestFacts
    arrangements: Arrangements
    catalog: Catalog
    org_zdr: bool          # the org's ZDR is approved and in force, and its plan may hold ZDR
    zdr_scope: bool        # org_zdr, no workspace override, and a key kind ZDR covers (that the
                           # org's plan may hold): ZDR applies to this request
    model_class: str


Verdict = tuple[Sequence[RuleHit], PolicyError | None]
NOTHING: Verdict = ((), None)
READ_METHODS = frozenset({"GET", "DELETE"})   # reading or deleting creates nothing new


def well_formed(scope: Scope) -> Verdict:
    """A parameter the policy reads has the wrong type (a `model` list, number, object or null):
    refuse it as the API would, before reading anything else from it."""
    malformed = scope.facts.malformed
    if not malformed:
        return NOTHING
    listed = ", ".join(malformed)
    return ([RuleHit("request.malformed", f"Refused: {listed} is not a string.")],
            PolicyError(400, INVALID, scope.catalog.messages.malformed_request.format(
                fields=listed)))


def known_features(scope: Scope) -> Verdict:
    """Fail closed: a feature the catalog does not know may store anything, so refuse it."""
    facts, catalog = scope.facts, scope.catalog
    arrangements = scope.arrangements
    if (not facts.unknown_features and catalog.features.keys() >= facts.features
            and facts.surface in catalog.surfaces and arrangements.org.plan in catalog.plans
            and arrangements.key_kind in catalog.key_kinds):
        return NOTHING
    unknown = sorted(facts.unknown_features | (facts.features - catalog.features.keys()))
    problems = []
    if facts.surface not in catalog.surfaces:
        problems.append(f"surface:{facts.surface}")
    if scope.arrangements.org.plan not in catalog.plans:
        problems.append(f"plan:{scope.arrangements.org.plan}")
    if scope.arrangements.key_kind not in catalog.key_kinds:
        problems.append(f"key_kind:{scope.arrangements.key_kind}")
    unknown += problems
    if not unknown:
        return NOTHING
    listed = ", ".join(unknown)
    message = catalog.messages.unknown_feature.format(features=listed)
    reason = f"Refused and kept nothing but metadata: not in catalog {catalog.version}: {listed}."
    return [RuleHit("fail_closed.unknown_feature", reason)], PolicyError(400, INVALID, message)


def zdr_scope(scope: Scope) -> Verdict:
    """Rule 1: ZDR applies only to an approved, in-force org on a plan that may hold ZDR (api,
    enterprise: re-checked here whatever the stored status says), on an eligible surface, for a
    key kind ZDR covers, in a workspace without a retention override."""
    org = scope.arrangements.org
    catalog = scope.catalog
    surface = catalog.surfaces[scope.facts.surface]
    if org.plan not in catalog.zdr_plans:
        plans = ", ".join(sorted(catalog.zdr_plans))
        return [RuleHit("scope.plan_not_eligible",
                        f"ZDR never applies to an organization on the {org.plan} plan (only "
                        f"{plans}), whatever its stored ZDR status.")], None
    if org.zdr_status != "approved":
        return [RuleHit("scope.zdr_not_in_force",
                        f"The organization's ZDR status is '{org.zdr_status}', not approved.")
                ], None
    if not scope.org_zdr:
        return [RuleHit("scope.zdr_not_yet_effective",
                        "ZDR is approved but its effective time has not come yet.")], None
    days = scope.arrangements.workspace.retention_override_days
    if days is not None:
        return [RuleHit("scope.workspace_override",
                        f"The workspace overrides the org's ZDR with {days}-day retention.")], None
    if not surface.carries_content:
        return [RuleHit("scope.no_content",
                        f"ZDR is in force; the {surface.id} surface carries no content.")], None
    if not surface.zdr_eligible and surface.artifact is None:
        return [RuleHit("scope.surface_ineligible",
                        f"ZDR is in force for the org but never applies to the {surface.id} "
                        "surface.")], None
    key_kind = scope.arrangements.key_kind
    if key_kind not in catalog.zdr_key_kinds:
        return [RuleHit("scope.key_kind_ineligible",
                        f"ZDR is in force for the org but never applies to requests made with a "
                        f"{key_kind} key.")], None
    if not catalog.key_kind_allowed(key_kind, org.plan):
        return [RuleHit("scope.key_kind_plan",
                        f"ZDR never applies to a {key_kind} key of an organization on the "
                        f"{org.plan} plan.")], None
    if not surface.zdr_eligible:
        return [RuleHit("scope.surface_not_covered",
                        f"ZDR is in force; the {surface.id} surface is not ZDR-eligible and keeps "
                        "its own data.")], None
    return [RuleHit("scope.zdr_in_force",
                    f"ZDR is approved and in force; the {surface.id} surface is eligible.")], None


def hipaa(scope: Scope) -> Verdict:
    """Rule 2: a HIPAA org is refused every HIPAA-ineligible feature and surface, all named.

    Some are BAA-covered only while ZDR applies to the request (web fetch, tool search, context
    editing, compaction, Claude Code); covered models never are in Claude Code. Reading or
    deleting the org's own files and batches is allowed: it creates nothing new.
    """
    org = scope.arrangements.org
    if not org.hipaa:
        return NOTHING
    catalog, facts = scope.catalog, scope.facts
    surface = catalog.surfaces[facts.surface]
    reading = surface.artifact is not None and facts.method in READ_METHODS
    found = _hipaa_ineligible(catalog, facts.features, scope.zdr_scope,
                              surface.id if reading else "")
    never, needs_zdr = list(found[0]), list(found[1])
    if not surface.hipaa_eligible and not reading:
        if surface.id not in never:
            never.append(surface.id)
    elif surface.hipaa_requires_zdr and not scope.zdr_scope:
        needs_zdr.append(surface.id)
    if (not surface.hipaa_covered_models and scope.model_class == "covered"
            and surface.carries_content):
        never.append(f"covered_model ({facts.model} in {surface.id})")
    if not never and not needs_zdr:
        hits = [RuleHit("hipaa.eligible",
                        f"HIPAA (BAA {org.baa_version}) is on; every feature used is eligible.")]
        if reading:
            hits.append(RuleHit("hipaa.read_or_delete_existing",
                                f"HIPAA is on: reading or deleting the organization's own "
                                f"{surface.id} is allowed (it creates nothing; deleting only "
                                "shortens retention)."))
        return hits, None
    parts = []
    if never:
        parts.append(catalog.messages.hipaa_ineligible.format(features=", ".join(never)))
    if needs_zdr:
        parts.append(catalog.messages.hipaa_requires_zdr.format(features=", ".join(needs_zdr)))
    listed = ", ".join(never + needs_zdr)
    reason = f"HIPAA (BAA {org.baa_version}) is on and the request uses: {listed}"
    if needs_zdr:
        reason += f" ({', '.join(needs_zdr)}: BAA-covered only with ZDR in force)"
    return ([RuleHit("hipaa.ineligible_features", reason + ".")],
            PolicyError(400, INVALID, " ".join(parts)))


@lru_cache(maxsize=4096)
def _hipaa_ineligible(catalog: Catalog, features: frozenset[str], zdr: bool, reading: str
                      ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(never eligible, eligible only with ZDR in force) among `features`; `reading` names the
    artifact surface whose own feature a read or delete may use."""
    never, needs_zdr = [], []
    for fid in sorted(features):
        spec = catalog.features[fid]
        if fid == reading:
            continue
        if not spec.hipaa_eligible:
            never.append(fid)
        elif spec.hipaa_requires_zdr and not zdr:
            needs_zdr.append(fid)
    return tuple(never), tuple(needs_zdr)


def covered_model(scope: Scope) -> Verdict:
    """Rule 3: a covered model needs data retention; from a ZDR scope it is refused.

    Only requests that carry content call the model; listing or describing it does not.
    """
    if scope.model_class != "covered":
        return NOTHING
    surface = scope.catalog.surfaces[scope.facts.surface]
    if not surface.carries_content:
        return NOTHING
    model = scope.facts.model
    if scope.zdr_scope:
        return (
            [RuleHit("covered_model.rejected",
                     f"{model} is a covered model and the request comes from a ZDR scope.")],
            PolicyError(400, INVALID, scope.catalog.messages.covered_model),
        )
    if surface.artifact is not None:
        return [RuleHit("covered_model.upstream_artifact",
                        f"{model} is a covered model: the upstream keeps this request as its "
                        f"{surface.artifact} for review; the gateway keeps no copy.")], None
    days = scope.catalog.retention.covered_model_min_days
    return [RuleHit("covered_model.review_retention",
                    f"{model} is a covered model: content is kept at least {days} days for "
                    "automated review.")], None


def browser_access(scope: Scope) -> Verdict:
    """Rule 4: ZDR traffic must come from a backend, never straight from a browser. The signal is
    the CORS `Origin` header (`anthropic-dangerous-direct-browser-access` alone is not one: the
    Claude Code CLI sends it on every request)."""
    if not (scope.org_zdr and scope.facts.browser_access):
        return NOTHING
    return (
        [RuleHit("browser.rejected",
                 "The organization has ZDR and the request came straight from a browser.")],
        PolicyError(403, PERMISSION, scope.catalog.messages.browser_access),
    )


def claude_code_enterprise(scope: Scope) -> Verdict:
    """Rule 5: under ZDR, Claude Code Enterprise features that store data server-side are refused.
    """
    if not scope.org_zdr or scope.facts.surface != "claude_code_enterprise":
        return NOTHING
    storing = sorted(
        f for f in scope.facts.features
        if f in ("claude_code_feedback", "claude_code_remote_session")
    )
    if not storing:
        return NOTHING
    listed = ", ".join(storing)
    return (
        [RuleHit("claude_code.server_storage_rejected",
                 f"Claude Code Enterprise under ZDR cannot use {listed}.")],
        PolicyError(403, PERMISSION,
                    scope.catalog.messages.claude_code_server_storage.format(features=listed)),
    )


REFUSING_RULES = (well_formed, known_features, zdr_scope, hipaa, covered_model, browser_access,
                  claude_code_enterprise)
