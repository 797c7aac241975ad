"""Render a Decision for people: the same words for the CLI, the console and the audit log."""

from __future__ import annotations

from zdr.policy.decision import Decision

ZDR_WORDS = {
    "applied": "Zero data retention applied: content is not written anywhere.",
    "partial": "Zero data retention in force, but a feature used keeps data outside it.",
    "none": "Zero data retention does not apply to this request.",
}

CONDITIONS = {"flagged_content": " (only if the safety classifier flags it: misuse exception)"}


def describe_keep(days: int | None, kept: bool) -> str:
    if not kept:
        return "not kept"
    if days is None:
        return "kept until deleted"
    return f"kept {days} days"


def explain_text(decision: Decision) -> str:
    lines = []
    if decision.allowed:
        lines.append(f"ALLOWED  surface={decision.surface}  model={decision.model or '-'} "
                     f"({decision.model_class})")
    else:
        assert decision.error is not None
        lines.append(f"REFUSED  {decision.error.status} {decision.error.type}: "
                     f"{decision.error.message}")
    lines.append(f"features: {', '.join(decision.features) or '(none)'}")
    if decision.betas_removed:
        lines.append(f"anthropic-beta removed: {', '.join(decision.betas_removed)} "
                     f"(relayed: {', '.join(decision.betas_kept) or '(none)'})")
    lines.append(f"ZDR: {decision.zdr} — {ZDR_WORDS[decision.zdr]}")
    lines.append("retention plan:")
    for record_class, keep in decision.keep.items():
        condition = CONDITIONS.get(record_class, "") if keep.kept else ""
        lines.append(f"  {record_class:<18} {describe_keep(keep.days, keep.kept)}{condition}")
    for artifact in decision.artifacts:
        lines.append(f"  artifact {artifact.feature}: {artifact.kind} "
                     f"{describe_keep(artifact.days, True)}")
    lines.append("why:")
    for hit in decision.rules:
        lines.append(f"  [{hit.id}] {hit.reason}")
    lines.append(f"catalog {decision.catalog_version}")
    return "\n".join(lines)
