"""Rule 6: the retention plan of an allowed request, per record class."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from zdr.catalog.schema import Catalog, SurfaceSpec
from zdr.policy.decision import NOT_KEPT, Artifact, Keep, RuleHit, ZdrState
from zdr.policy.rules import Scope

Plan = tuple[ZdrState, dict[str, Keep], tuple[Artifact, ...], list[RuleHit]]


def feature_names(catalog: Catalog, features: frozenset[str]) -> tuple[str, ...]:
    """The sorted feature ids of an allowed request (memoized with its artifacts)."""
    return _feature_keep(catalog, features).names


@dataclass(frozen=True, slots=True)
class _Derived:
    """What a catalog implies once: per-feature artifacts and the reasons that never vary."""

    artifacts: dict[str, Artifact]
    metadata: Keep
    classifier_result: Keep
    flagged_content: Keep
    fixed_hits: tuple[RuleHit, ...]
    content_hits: tuple[RuleHit, ...]
    applied: RuleHit


@lru_cache(maxsize=16)
def _derived(catalog: Catalog) -> _Derived:
    r = catalog.retention
    artifacts = {
        spec.id: Artifact(spec.id, spec.artifact,
                          None if spec.artifact_until_deleted else spec.artifact_days)
        for spec in catalog.features.values()
        if spec.zdr != "yes" and spec.artifact is not None
    }
    return _Derived(
        artifacts=artifacts,
        metadata=Keep(True, r.metadata_days),
        classifier_result=Keep(True, r.classifier_result_days),
        flagged_content=Keep(True, r.flagged_content_days),
        fixed_hits=(RuleHit("retention.metadata",
                            f"Metadata (no content) kept {r.metadata_days} days."),),
        content_hits=(
            RuleHit("retention.classifier_result",
                    f"Safety classifier results (no content) kept {r.classifier_result_days} "
                    "days."),
            RuleHit("retention.misuse_exception",
                    f"If the safety classifier flags it, content is kept "
                    f"{r.flagged_content_days} days for trust and safety review, under every "
                    "arrangement."),
        ),
        applied=RuleHit("retention.zdr_applied", "ZDR applied: content is not written anywhere."),
    )


@dataclass(frozen=True, slots=True)
class _FeatureKeep:
    """What a feature set keeps whatever the arrangement (memoized per catalog and set)."""

    artifacts: tuple[Artifact, ...]
    names: tuple[str, ...]           # the feature ids, sorted (the decision lists them)
    longest: Keep
    partial: RuleHit | None          # the zdr_partial reason, when a feature is outside ZDR
    hits: tuple[RuleHit, ...]        # one reason per artifact


@lru_cache(maxsize=4096)
def _feature_keep(catalog: Catalog, features: frozenset[str]) -> _FeatureKeep:
    table = _derived(catalog).artifacts
    artifacts = tuple(table[fid] for fid in sorted(features) if fid in table)
    outside = [a for a in artifacts if catalog.features[a.feature].zdr == "no"]
    partial = None
    if outside:
        named = ", ".join(f"{a.feature} ({_period(a.days)})" for a in outside)
        partial = RuleHit("retention.zdr_partial",
                          f"ZDR in force, but not for: {named}; content itself is not kept.")
    hits = tuple(
        RuleHit(f"retention.artifact.{a.feature}",
                f"{catalog.features[a.feature].label}: its {a.kind.replace('_', ' ')} is kept "
                f"{_period(a.days)}.")
        for a in artifacts
    )
    return _FeatureKeep(artifacts, tuple(sorted(features)), _longest(artifacts), partial, hits)


def artifacts_of(scope: Scope) -> tuple[Artifact, ...]:
    """What each non-eligible (or qualified) feature keeps, whatever the arrangement."""
    return _feature_keep(scope.catalog, scope.facts.features).artifacts


def _longest(artifacts: tuple[Artifact, ...]) -> Keep:
    if not artifacts:
        return NOT_KEPT
    if any(a.days is None for a in artifacts):
        return Keep(True, None)
    return Keep(True, max(a.days or 0 for a in artifacts))


def content_days(scope: Scope) -> tuple[int, list[RuleHit]]:
    """The content period outside ZDR: the org's period, raised by an override or a covered model.

    Every period is clamped to [custom_min_days, max_days]: content outside ZDR is never kept for
    less than the commercial minimum nor past the catalog's bound.
    """
    retention = scope.catalog.retention
    org = scope.arrangements.org
    override = scope.arrangements.workspace.retention_override_days
    floor, ceiling = retention.custom_min_days, retention.max_days
    hits = []
    if org.retention_days is not None:
        days = min(max(org.retention_days, floor), ceiling)
        hits.append(RuleHit("retention.custom_period",
                            f"Content kept {days} days: the organization's custom period."))
    else:
        days = retention.default_content_days
        hits.append(RuleHit("retention.default_period",
                            f"Content kept {days} days: the default retention period."))
    if override is not None:
        wanted = min(max(override, floor), ceiling)
        days = wanted if scope.org_zdr else max(days, wanted)
        hits.append(RuleHit("retention.workspace_override",
                            f"Content kept {days} days: the workspace's retention override."))
    if scope.model_class == "covered" and days < retention.covered_model_min_days:
        days = retention.covered_model_min_days
        hits.append(RuleHit("retention.covered_model_minimum",
                            f"Content kept {days} days: the minimum for covered models."))
    return min(days, ceiling), hits


def retention_plan(scope: Scope) -> Plan:
    """Rule 6 for an allowed request: what each record class keeps, and the ZDR state."""
    derived = _derived(scope.catalog)
    surface = scope.catalog.surfaces[scope.facts.surface]
    by_features = _feature_keep(scope.catalog, scope.facts.features)
    hits = list(derived.fixed_hits)
    keep: dict[str, Keep] = {
        "metadata": derived.metadata,
        "content": NOT_KEPT,
        "flagged_content": NOT_KEPT,
        "classifier_result": NOT_KEPT,
        "feature_artifact": by_features.longest,
    }
    if surface.carries_content:
        keep["classifier_result"] = derived.classifier_result
        keep["flagged_content"] = derived.flagged_content
        hits.extend(derived.content_hits)
    zdr: ZdrState
    if scope.zdr_scope and surface.zdr_eligible:
        if by_features.partial is not None:
            zdr = "partial"
            hits.append(by_features.partial)
        else:
            zdr = "applied"
            hits.append(derived.applied)
    elif scope.zdr_scope and surface.carries_content and surface.artifact is not None:
        zdr = "partial"
        hits.append(RuleHit("retention.zdr_partial",
                            f"ZDR in force, but not for: the {surface.id} surface "
                            f"({_period(_surface_days(surface))}); its data is kept as a feature "
                            "artifact, content itself is not kept."))
    elif scope.zdr_scope and not surface.carries_content:
        zdr = "none"
        hits.append(RuleHit("retention.no_content",
                            f"The {surface.id} surface carries no content: nothing to retain."))
    else:
        zdr = "none"
        if surface.carries_content and surface.artifact is not None:
            period = _period(_surface_days(surface))
            hits.append(RuleHit("retention.upstream_artifact",
                                f"The {surface.id} surface: what it carries is held by the "
                                f"upstream as its {surface.artifact} ({period}); the gateway "
                                "keeps no copy of it."))
        elif surface.carries_content:
            days, period_hits = content_days(scope)
            keep["content"] = Keep(True, days)
            hits.extend(period_hits)
    hits.extend(by_features.hits)
    return zdr, keep, by_features.artifacts, hits


def _surface_days(surface: SurfaceSpec) -> int | None:
    return None if surface.artifact_until_deleted else surface.artifact_days


def _period(days: int | None) -> str:
    if days is None:
        return "until deleted"
    if days == 1:
        return "24 hours"
    if days % 365 == 0:
        years = days // 365
        return f"{days:,} days ({years} year{'s' if years > 1 else ''})"
    return f"{days} days"
