"""Rule 6: the retention plan of an allowed request, per record class."""

from __future__ import annotations

from zdr.policy.decision import NOT_KEPT, Artifact, Keep, RuleHit, ZdrState
from zdr.policy.rules import Scope

Plan = tuple[ZdrState, dict[str, Keep], tuple[Artifact, ...], list[RuleHit]]


def artifacts_of(scope: Scope) -> tuple[Artifact, ...]:
    """What each non-eligible (or qualified) feature keeps, whatever the arrangement."""
    found = []
    for fid in sorted(scope.facts.features):
        spec = scope.catalog.features[fid]
        if spec.zdr != "yes" and spec.artifact is not None:
            days = None if spec.artifact_until_deleted else spec.artifact_days
            found.append(Artifact(fid, spec.artifact, days))
    return tuple(found)


def _longest(artifacts: tuple[Artifact, ...]) -> Keep:
    if not artifacts:
        return NOT_KEPT
    if any(a.days is None for a in artifacts):
        return Keep(True, None)
    return Keep(True, max(a.days or 0 for a in artifacts))


def content_days(scope: Scope) -> tuple[int, list[RuleHit]]:
    """The content period outside ZDR: org period, raised by a workspace override and covered models."""
    retention = scope.catalog.retention
    org = scope.arrangements.org
    override = scope.arrangements.workspace.retention_override_days
    hits = []
    if org.retention_days is not None:
        days = max(org.retention_days, retention.custom_min_days)
        hits.append(RuleHit("retention.custom_period",
                            f"Content kept {days} days: the organization's custom period."))
    else:
        days = retention.default_content_days
        hits.append(RuleHit("retention.default_period",
                            f"Content kept {days} days: the default retention period."))
    if override is not None:
        days = override if scope.org_zdr else max(days, override)
        hits.append(RuleHit("retention.workspace_override",
                            f"Content kept {days} days: the workspace's retention override."))
    if scope.model_class == "covered" and days < retention.covered_model_min_days:
        days = retention.covered_model_min_days
        hits.append(RuleHit("retention.covered_model_minimum",
                            f"Content kept {days} days: the minimum for covered models."))
    return min(days, retention.max_days), hits


def retention_plan(scope: Scope) -> Plan:
    retention = scope.catalog.retention
    surface = scope.catalog.surfaces[scope.facts.surface]
    artifacts = artifacts_of(scope)
    hits = [RuleHit("retention.metadata",
                    f"Metadata (no content) kept {retention.metadata_days} days.")]
    keep: dict[str, Keep] = {
        "metadata": Keep(True, retention.metadata_days),
        "content": NOT_KEPT,
        "flagged_content": NOT_KEPT,
        "classifier_result": NOT_KEPT,
        "feature_artifact": _longest(artifacts),
    }
    if surface.carries_content:
        keep["classifier_result"] = Keep(True, retention.classifier_result_days)
        keep["flagged_content"] = Keep(True, retention.flagged_content_days)
        hits.append(RuleHit("retention.classifier_result",
                            f"Safety classifier results (no content) kept "
                            f"{retention.classifier_result_days} days."))
        hits.append(RuleHit("retention.misuse_exception",
                            f"If the safety classifier flags it, content is kept "
                            f"{retention.flagged_content_days} days for trust and safety review, "
                            "under every arrangement."))
    zdr: ZdrState
    if scope.zdr_scope and (surface.zdr_eligible or not surface.carries_content):
        outside = [a for a in artifacts if scope.catalog.features[a.feature].zdr == "no"]
        if outside:
            zdr = "partial"
            named = ", ".join(f"{a.feature} ({_period(a.days)})" for a in outside)
            hits.append(RuleHit("retention.zdr_partial",
                                f"ZDR in force, but not for: {named}; content itself is not kept."))
        else:
            zdr = "applied"
            hits.append(RuleHit("retention.zdr_applied",
                                "ZDR applied: content is not written anywhere."))
    elif scope.zdr_scope and surface.artifact is not None:
        zdr = "partial"
        hits.append(RuleHit("retention.zdr_partial",
                            f"ZDR in force, but the {surface.id} surface is not covered: its data "
                            "is kept as a feature artifact; content itself is not kept."))
    else:
        zdr = "none"
        if surface.carries_content and surface.artifact is None:
            days, period_hits = content_days(scope)
            keep["content"] = Keep(True, days)
            hits.extend(period_hits)
    for artifact in artifacts:
        hits.append(RuleHit(f"retention.artifact.{artifact.feature}",
                            f"{scope.catalog.features[artifact.feature].label}: its "
                            f"{artifact.kind} is kept {_period(artifact.days)}."))
    return zdr, keep, artifacts, hits


def _period(days: int | None) -> str:
    if days is None:
        return "until deleted"
    return "24 hours" if days == 1 else f"{days} days"
