"""The immutable result of the policy for one request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ZdrState = Literal["applied", "partial", "none"]
RECORD_CLASSES = ("metadata", "content", "flagged_content", "classifier_result", "feature_artifact")


@dataclass(frozen=True, slots=True)
class RuleHit:
    id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Keep:
    """Whether one record class is kept and for how long; `days=None` while kept = until deleted."""

    kept: bool
    days: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kept": self.kept, "days": self.days if self.kept else None}


NOT_KEPT = Keep(kept=False)


@dataclass(frozen=True, slots=True)
class Artifact:
    """What a feature keeps outside ZDR (or a qualified feature keeps inside it)."""

    feature: str
    kind: str
    days: int | None


@dataclass(frozen=True, slots=True)
class PolicyError:
    status: int
    type: str
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"type": "error", "error": {"type": self.type, "message": self.message}}


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    error: PolicyError | None
    surface: str
    features: tuple[str, ...]
    model: str | None
    model_class: str
    zdr: ZdrState
    keep: Mapping[str, Keep]       # read-only (a MappingProxyType): decisions are shared by a cache
    artifacts: tuple[Artifact, ...]
    rules: tuple[RuleHit, ...]
    catalog_version: str
    betas_kept: tuple[str, ...] = ()      # the `anthropic-beta` values relayed (rule 5a)
    betas_removed: tuple[str, ...] = ()   # removed before relaying; empty: the header is untouched

    @property
    def status(self) -> int:
        return 200 if self.error is None else self.error.status

    @property
    def content_kept(self) -> bool:
        return self.keep["content"].kept

    @property
    def retention_label(self) -> str:
        """The value of the `zdr-retention` response header: `zero`, `partial`, the content's
        period (`30d`), or, when only the upstream keeps what the request carries (files and
        batches of an org without ZDR), that artifact's period (`29d`, `until-deleted`)."""
        if self.zdr == "applied":
            return "zero"
        if self.zdr == "partial":
            return "partial"
        kept = self.keep["content"]
        if not kept.kept:
            kept = self.keep["feature_artifact"]
            if not kept.kept:
                return "none"
        return "until-deleted" if kept.days is None else f"{kept.days}d"

    def keep_days(self, record_class: str) -> int | None:
        return self.keep[record_class].days

    def as_json(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "status": self.status,
            "error": None if self.error is None else {
                "type": self.error.type, "message": self.error.message,
            },
            "surface": self.surface,
            "features": list(self.features),
            "model": self.model,
            "model_class": self.model_class,
            "zdr": self.zdr,
            "retention": self.retention_label,
            "keep": {name: keep.as_json() for name, keep in self.keep.items()},
            "artifacts": [
                {"feature": a.feature, "kind": a.kind, "days": a.days} for a in self.artifacts
            ],
            "rules": [hit.id for hit in self.rules],
            "reasons": [hit.reason for hit in self.rules],
            "catalog_version": self.catalog_version,
            "betas_kept": list(self.betas_kept),
            "betas_removed": list(self.betas_removed),
        }
