"""`decide`: apply the rules in the design's order and build the Decision. Pure and memoized."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from types import MappingProxyType

from zdr.catalog.schema import Catalog
from zdr.policy.betas import filter_betas
from zdr.policy.decision import NOT_KEPT, RECORD_CLASSES, Decision, Keep, PolicyError, RuleHit
from zdr.policy.facts import Arrangements, RequestFacts
from zdr.policy.retention import feature_names, retention_plan
from zdr.policy.rules import REFUSING_RULES, Scope


def zdr_in_force(arrangements: Arrangements, catalog: Catalog, now: datetime) -> bool:
    """The org's ZDR is approved, has taken effect, and its plan may hold ZDR (api, enterprise):
    the plan is checked here whatever the stored status says."""
    org = arrangements.org
    if org.zdr_status != "approved" or org.plan not in catalog.zdr_plans:
        return False
    return org.zdr_effective_at is None or org.zdr_effective_at <= now


def decide(
    facts: RequestFacts, arrangements: Arrangements, catalog: Catalog, now: datetime
) -> Decision:
    """The decision for one request. Never raises: any failure is a refusal that keeps no content.

    `now` matters only through "is the org's ZDR in force yet", so the rest is memoized on
    (facts, arrangements, catalog, that flag): all frozen, so the cache cannot change an answer.
    """
    try:
        in_force = zdr_in_force(arrangements, catalog, now)
        return _decide_cached(facts, arrangements, catalog, in_force)
    except Exception as error:  # noqa: BLE001 - fail closed on anything
        return fail_closed(facts, catalog, type(error).__name__)


def evaluate(
    facts: RequestFacts, arrangements: Arrangements, catalog: Catalog, org_zdr: bool
) -> Decision:
    """The rules themselves, uncached; may raise (callers go through `decide`)."""
    override = arrangements.workspace.retention_override_days
    key_kind = arrangements.key_kind
    scope = Scope(
        facts=facts,
        arrangements=arrangements,
        catalog=catalog,
        org_zdr=org_zdr,
        zdr_scope=(org_zdr and override is None and key_kind in catalog.zdr_key_kinds
                   and catalog.key_kind_allowed(key_kind, arrangements.org.plan)),
        model_class=_model_class(catalog, facts.model),
    )
    hits: list[RuleHit] = []
    for rule in REFUSING_RULES:
        rule_hits, error = rule(scope)
        hits.extend(rule_hits)
        if error is not None:
            return _refusal(scope, hits, error)
    zdr, keep, artifacts, plan_hits = retention_plan(scope)
    kept, removed, beta_hits = filter_betas(catalog, facts.betas, scope.zdr_scope,
                                            arrangements.org.hipaa)
    return Decision(
        allowed=True,
        error=None,
        surface=facts.surface,
        features=feature_names(catalog, facts.features),
        model=facts.model,
        model_class=scope.model_class,
        zdr=zdr,
        keep=MappingProxyType(keep),
        artifacts=artifacts,
        rules=(*hits, *beta_hits, *plan_hits),
        catalog_version=catalog.version,
        betas_kept=kept,
        betas_removed=removed,
    )


_decide_cached = lru_cache(maxsize=65536)(evaluate)


@lru_cache(maxsize=1024)
def _model_class(catalog: Catalog, model: str | None) -> str:
    return catalog.model_class(model)


def _metadata_only(catalog: Catalog) -> MappingProxyType[str, Keep]:
    return MappingProxyType({
        "metadata": Keep(True, catalog.retention.metadata_days),
        "content": NOT_KEPT,
        "flagged_content": NOT_KEPT,
        "classifier_result": NOT_KEPT,
        "feature_artifact": NOT_KEPT,
    })


def _refusal(scope: Scope, hits: list[RuleHit], error: PolicyError) -> Decision:
    catalog = scope.catalog
    hits.append(RuleHit("retention.rejected_metadata_only",
                        "The request was refused: nothing of it is kept but its metadata."))
    return Decision(
        allowed=False,
        error=error,
        surface=scope.facts.surface,
        features=_refused_names(scope),
        model=scope.facts.model,
        model_class=scope.model_class,
        zdr="applied" if scope.zdr_scope and _eligible(scope) else "none",
        keep=_metadata_only(catalog),
        artifacts=(),
        rules=tuple(hits),
        catalog_version=catalog.version,
    )


def _refused_names(scope: Scope) -> tuple[str, ...]:
    facts = scope.facts
    if facts.unknown_features:
        return tuple(sorted(facts.features | facts.unknown_features))
    return feature_names(scope.catalog, facts.features)


def _eligible(scope: Scope) -> bool:
    surface = scope.catalog.surfaces.get(scope.facts.surface)
    return surface is not None and surface.zdr_eligible


def fail_closed(facts: RequestFacts, catalog: Catalog, cause: str) -> Decision:
    """The decision when the policy cannot be evaluated: refuse, keep metadata only."""
    keep: MappingProxyType[str, Keep]
    try:
        version, message = str(catalog.version), str(catalog.messages.policy_unavailable)
        keep = _metadata_only(catalog)
    except Exception:  # noqa: BLE001 - the catalog itself may be what is broken
        version, message = "unavailable", "The data-retention policy could not be evaluated."
        keep = MappingProxyType({name: NOT_KEPT for name in RECORD_CLASSES})
    return Decision(
        allowed=False,
        error=PolicyError(500, "api_error", message),
        surface=str(getattr(facts, "surface", "unknown"))[:64],
        features=(),
        model=None,
        model_class="standard",
        zdr="none",
        keep=keep,
        artifacts=(),
        rules=(RuleHit("fail_closed.evaluation_error",
                       f"The policy could not be evaluated ({cause}); nothing but metadata is "
                       "kept."),),
        catalog_version=version,
    )
