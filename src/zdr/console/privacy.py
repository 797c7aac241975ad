"""What the Privacy Controls page says is in force: computed by the policy itself, not restated.

For each workspace the page asks `zdr.policy.decide` what it would do with a plain Messages
request, and with a request to each covered model, so the words on the page and the gateway's
behaviour cannot drift apart. This module is pure: the caller passes the records and `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from zdr.catalog.schema import Catalog
from zdr.policy import Arrangements, OrgState, RequestFacts, WorkspaceState, decide
from zdr.policy.decide import zdr_in_force


@dataclass(frozen=True, slots=True)
class WorkspaceRow:
    workspace_id: str
    name: str
    retention_override_days: int | None


@dataclass(frozen=True, slots=True)
class ZdrRequestRow:
    request_id: str
    status: str
    reason: str | None
    requested_at: datetime
    decided_at: datetime | None
    effective_at: datetime | None
    note: str | None


@dataclass(frozen=True, slots=True)
class WorkspaceRetention:
    name: str
    retention: str              # what the page says: "Zero data retention" / "30 days" / …
    source: str                 # why: "the organization's arrangement" / "workspace override"
    covered_models_usable: bool
    zdr_header: str             # the `zdr-retention` value a plain request gets


@dataclass(frozen=True, slots=True)
class FeatureOutsideZdr:
    label: str
    kept: str                   # what is kept
    period: str                 # for how long
    hipaa_eligible: bool


@dataclass(frozen=True, slots=True)
class PrivacySummary:
    headline: str
    zdr_in_force: bool
    zdr_pending_effect: bool
    hipaa: str
    workspaces: tuple[WorkspaceRetention, ...]
    features_outside_zdr: tuple[FeatureOutsideZdr, ...]
    covered_patterns: tuple[str, ...]
    covered_usable_from: tuple[str, ...]
    always_kept: tuple[str, ...]
    open_request: ZdrRequestRow | None
    last_decision: ZdrRequestRow | None


def when(moment: datetime | None) -> str:
    """The console's one date format: `2026-11-25 09:30 UTC`."""
    return "—" if moment is None else moment.strftime("%Y-%m-%d %H:%M UTC")


def period(days: int | None) -> str:
    if days is None:
        return "until deleted"
    if days == 1:
        return "24 hours"
    if days % 365 == 0:
        years = days // 365
        return f"{days:,} days ({years} year{'s' if years > 1 else ''})"
    return f"{days:,} days"


def probe_model(pattern: str) -> str:
    """A model id that matches `pattern` (for asking the policy about covered models)."""
    return pattern.replace("*", "probe").replace("?", "x")


def _headline(org: OrgState, approved: ZdrRequestRow | None, in_force: bool, catalog: Catalog,
              now: datetime) -> str:
    if org.zdr_status == "approved" and org.plan in catalog.zdr_plans:
        approved_on = when(approved.decided_at) if approved else "—"
        effective = org.zdr_effective_at
        if in_force:
            return (f"Zero data retention — approved on {approved_on}, "
                    f"in force since {when(effective)}")
        return f"Zero data retention — approved on {approved_on}, in force from {when(effective)}"
    if org.retention_days is not None:
        days = max(org.retention_days, catalog.retention.custom_min_days)
        return f"{period(days)} (custom retention period)"
    return period(catalog.retention.default_content_days)


def _workspace(org: OrgState, ws: WorkspaceRow, catalog: Catalog, now: datetime
               ) -> WorkspaceRetention:
    arrangements = Arrangements(
        org=org, key_kind="api",
        workspace=WorkspaceState(ws.retention_override_days, ws.workspace_id))
    plain = decide(RequestFacts(surface="messages"), arrangements, catalog, now)
    covered = [
        decide(RequestFacts(surface="messages", model=probe_model(p.pattern)), arrangements,
               catalog, now)
        for p in catalog.models if p.model_class == "covered"
    ]
    if plain.zdr == "applied":
        retention = "Zero data retention"
    else:
        retention = period(plain.keep_days("content")) if plain.content_kept else "not kept"
    rules = {hit.id for hit in plain.rules}
    if "retention.workspace_override" in rules or "scope.workspace_override" in rules:
        source = f"workspace override ({period(ws.retention_override_days)})"
    elif "retention.custom_period" in rules:
        source = "the organization's custom period"
    elif plain.zdr == "applied":
        source = "the organization's arrangement"
    else:
        source = "the default retention period"
    return WorkspaceRetention(
        name=ws.name,
        retention=retention,
        source=source,
        covered_models_usable=all(d.allowed for d in covered),
        zdr_header=plain.retention_label,
    )


def _features_outside(catalog: Catalog) -> tuple[FeatureOutsideZdr, ...]:
    rows = []
    for spec in catalog.features.values():
        if spec.zdr == "yes" or spec.artifact is None:
            continue
        days = None if spec.artifact_until_deleted else spec.artifact_days
        artifact = spec.artifact.replace("_", " ")
        kept = f"its {artifact}" if spec.zdr == "no" else f"only its {artifact}"
        rows.append(FeatureOutsideZdr(spec.label, kept, period(days), spec.hipaa_eligible))
    return tuple(sorted(rows, key=lambda r: r.label.lower()))


def summarize(
    org: OrgState,
    workspaces: list[WorkspaceRow],
    requests: list[ZdrRequestRow],
    catalog: Catalog,
    now: datetime,
    hipaa_accepted_at: datetime | None = None,
) -> PrivacySummary:
    """Everything the Privacy Controls page shows for one organization."""
    in_force = zdr_in_force(Arrangements(org=org), catalog, now)
    ordered = sorted(requests, key=lambda r: r.requested_at)
    open_request = next((r for r in reversed(ordered) if r.status == "requested"), None)
    decided = [r for r in ordered if r.decided_at is not None]
    last_decision = max(decided, key=lambda r: r.decided_at or now) if decided else None
    approved = next((r for r in reversed(decided) if r.status == "approved"), None)
    rows = [_workspace(org, ws, catalog, now) for ws in workspaces]
    hipaa = (f"Enabled — BAA version {org.baa_version}, accepted on {when(hipaa_accepted_at)}"
             if org.hipaa else "Not enabled")
    r = catalog.retention
    usable = tuple(row.name for row in rows if row.covered_models_usable)
    return PrivacySummary(
        headline=_headline(org, approved, in_force, catalog, now),
        zdr_in_force=in_force,
        zdr_pending_effect=org.zdr_status == "approved" and not in_force,
        hipaa=hipaa,
        workspaces=tuple(rows),
        features_outside_zdr=_features_outside(catalog),
        covered_patterns=tuple(p.pattern for p in catalog.models if p.model_class == "covered"),
        covered_usable_from=usable,
        always_kept=(
            f"Metadata (ids, model, feature names, token counts, the decision — never content): "
            f"{period(r.metadata_days)}",
            f"Safety classifier results (scores and labels, no content): "
            f"{period(r.classifier_result_days)}",
            f"Content flagged by the safety classifier (misuse exception, trust & safety only): "
            f"{period(r.flagged_content_days)}",
        ),
        open_request=open_request,
        last_decision=last_decision,
    )
