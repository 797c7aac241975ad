"""Does a stored decision's retention plan follow from the catalog version it names?

The facts and arrangements of the request are not stored, so the decision cannot be recomputed
whole; what the catalog alone fixes is checked: the fixed periods, the artifacts of its features,
and which ZDR state allows which classes to be kept.
"""

from __future__ import annotations

from typing import Any

from zdr.catalog import Catalog

FIXED_CLASSES = ("metadata", "content", "flagged_content", "classifier_result", "feature_artifact")


def _keep(decision: dict[str, Any], record_class: str) -> tuple[bool, int | None]:
    entry = (decision.get("keep") or {}).get(record_class) or {}
    return bool(entry.get("kept")), entry.get("days")


def expected_artifacts(decision: dict[str, Any], catalog: Catalog) -> list[dict[str, Any]]:
    found = []
    for fid in sorted(decision.get("features") or []):
        spec = catalog.features.get(fid)
        if spec is not None and spec.zdr != "yes" and spec.artifact is not None:
            days = None if spec.artifact_until_deleted else spec.artifact_days
            found.append({"feature": fid, "kind": spec.artifact, "days": days})
    return found


def plan_problems(decision: dict[str, Any], catalog: Catalog) -> list[str]:
    """What in `decision` contradicts `catalog`; empty when consistent."""
    problems: list[str] = []
    retention = catalog.retention
    surface = catalog.surfaces.get(str(decision.get("surface")))
    if surface is None:
        return [f"surface '{decision.get('surface')}' is not in catalog {catalog.version}"]
    kept = {name: _keep(decision, name) for name in FIXED_CLASSES}
    if kept["metadata"] != (True, retention.metadata_days):
        problems.append(f"metadata plan {kept['metadata']} differs from the catalog's "
                        f"{retention.metadata_days} days")
    if not decision.get("allowed"):
        for name in FIXED_CLASSES[1:]:
            if kept[name][0]:
                problems.append(f"refused request, yet its plan keeps {name}")
        return problems
    unknown = [f for f in decision.get("features") or [] if f not in catalog.features]
    if unknown:
        problems.append(f"features not in catalog {catalog.version}: {', '.join(unknown)}")
    if surface.carries_content:
        wanted = {"classifier_result": retention.classifier_result_days,
                  "flagged_content": retention.flagged_content_days}
        for name, days in wanted.items():
            if kept[name] != (True, days):
                problems.append(f"{name} plan {kept[name]} differs from the catalog's {days} days")
    artifacts = expected_artifacts(decision, catalog)
    if list(decision.get("artifacts") or []) != artifacts:
        problems.append("artifacts differ from those the catalog gives its features")
    zdr = decision.get("zdr")
    content_kept, content_days = kept["content"]
    if zdr in ("applied", "partial") and content_kept:
        problems.append(f"ZDR {zdr}, yet the plan keeps content")
    if zdr == "applied" and surface.carries_content and not surface.zdr_eligible:
        problems.append(f"ZDR applied on surface '{surface.id}', which is not ZDR-eligible")
    if zdr == "applied" and any(catalog.features[a["feature"]].zdr == "no" for a in artifacts):
        problems.append("ZDR applied although a feature outside ZDR was used (must be partial)")
    if zdr == "none":
        should_keep = surface.carries_content and surface.artifact is None
        if content_kept != should_keep:
            problems.append(f"content kept={content_kept}, the catalog says {should_keep}")
        if content_kept and not (isinstance(content_days, int)
                                 and 1 <= content_days <= retention.max_days):
            problems.append(f"content period {content_days} outside 1..{retention.max_days} days")
    return problems
