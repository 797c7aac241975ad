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
    org_zdr: bool          # the org's ZDR is approved, in force and its plan is commercial
    zdr_scope: bool        # org_zdr, no workspace override, and a key kind ZDR covers
    model_class: str


Verdict = tuple[Sequence[RuleHit], PolicyError | None]
NOTHING: Verdict = ((), None)


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
    """Rule 1: ZDR applies only to an approved, in-force, commercial org on an eligible surface,
    for a key kind ZDR covers, in a workspace without a retention override."""
    org = scope.arrangements.org
    surface = scope.catalog.surfaces[scope.facts.surface]
    if org.plan in scope.catalog.consumer_plans:
        return [RuleHit("scope.consumer_plan",
                        f"ZDR never applies to a consumer-plan ({org.plan}) organization.")], None
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
    if key_kind not in scope.catalog.zdr_key_kinds:
        return [RuleHit("scope.key_kind_ineligible",
                        f"ZDR is in force for the org but never applies to requests made with a "
                        f"{key_kind} key.")], None
    if not surface.zdr_eligible:
        return [RuleHit("scope.surface_not_covered",
                        f"ZDR is in force; the {surface.id} surface is not ZDR-eligible and keeps "
                        "its own data.")], None
    return [RuleHit("scope.zdr_in_force",
                    f"ZDR is approved and in force; the {surface.id} surface is eligible.")], None


def hipaa(scope: Scope) -> Verdict:
    """Rule 2: a HIPAA org is refused every HIPAA-ineligible feature and surface, all named."""
    org = scope.arrangements.org
    if not org.hipaa:
        return NOTHING
    catalog = scope.catalog
    ineligible = list(_hipaa_ineligible(catalog, scope.facts.features))
    surface = catalog.surfaces[scope.facts.surface]
    if not surface.hipaa_eligible and surface.id not in ineligible:
        ineligible.append(surface.id)
    if not ineligible:
        return [RuleHit("hipaa.eligible",
                        f"HIPAA (BAA {org.baa_version}) is on; every feature used is eligible.")
                ], None
    listed = ", ".join(ineligible)
    return (
        [RuleHit("hipaa.ineligible_features",
                 f"HIPAA (BAA {org.baa_version}) is on and the request uses: {listed}.")],
        PolicyError(400, INVALID, catalog.messages.hipaa_ineligible.format(features=listed)),
    )


@lru_cache(maxsize=4096)
def _hipaa_ineligible(catalog: Catalog, features: frozenset[str]) -> tuple[str, ...]:
    return tuple(sorted(f for f in features if not catalog.features[f].hipaa_eligible))


def covered_model(scope: Scope) -> Verdict:
    """Rule 3: a covered model needs data retention; from a ZDR scope it is refused.

    Only requests that carry content call the model; listing or describing it does not.
    """
    if scope.model_class != "covered":
        return NOTHING
    if not scope.catalog.surfaces[scope.facts.surface].carries_content:
        return NOTHING
    model = scope.facts.model
    if scope.zdr_scope:
        return (
            [RuleHit("covered_model.rejected",
                     f"{model} is a covered model and the request comes from a ZDR scope.")],
            PolicyError(400, INVALID, scope.catalog.messages.covered_model),
        )
    days = scope.catalog.retention.covered_model_min_days
    return [RuleHit("covered_model.review_retention",
                    f"{model} is a covered model: content is kept at least {days} days for "
                    "automated review.")], None


def browser_access(scope: Scope) -> Verdict:
    """Rule 4: ZDR traffic must come from a backend, never straight from a browser."""
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


REFUSING_RULES = (known_features, zdr_scope, hipaa, covered_model, browser_access,
                  claude_code_enterprise)
