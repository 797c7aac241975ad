"""Frozen types of the policy catalog. Pure data: no I/O, no defaults hidden in code."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from typing import Literal

ModelClass = Literal["standard", "covered"]

# What an `anthropic-beta` value looks like: lower-case words and a date (`…-2025-05-14`,
# `claude-code-20250219`). Nothing else is ever named in a decision or a header (it could carry
# text from the request).
BETA_NAME = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*-20[0-9]{2}-?[0-9]{2}-?[0-9]{2}")


@dataclass(frozen=True, slots=True)
class RetentionPeriods:
    """Periods in days that the rules use; `None` never appears here (that is per artifact)."""

    default_content_days: int
    custom_min_days: int
    max_days: int
    metadata_days: int
    classifier_result_days: int
    flagged_content_days: int
    covered_model_min_days: int
    deletion_restore_days: int
    purge_grace_seconds: int


@dataclass(frozen=True, slots=True)
class SurfaceSpec:
    """One surface. `hipaa_requires_zdr`: BAA-covered only while ZDR applies to the request;
    `hipaa_covered_models`: whether covered models are BAA-covered on it.

    An `artifact` surface (batches, files) carries what the upstream keeps as that feature's
    artifact: the gateway never copies it into its own store, whatever the arrangement.
    """

    id: str
    zdr_eligible: bool
    hipaa_eligible: bool
    carries_content: bool
    artifact: str | None
    artifact_days: int | None
    artifact_until_deleted: bool
    source: str
    hipaa_requires_zdr: bool = False
    hipaa_covered_models: bool = True


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """One line of the feature table.

    `zdr` is one of "yes", "qualified" (only `artifact` is kept, for `artifact_days`) or "no"
    (the request runs; `artifact` is kept outside ZDR for its period).
    """

    id: str
    label: str
    zdr: Literal["yes", "qualified", "no"]
    hipaa_eligible: bool
    artifact: str | None
    artifact_days: int | None
    artifact_until_deleted: bool
    tool_type_prefixes: tuple[str, ...]
    source: str
    hipaa_requires_zdr: bool = False     # BAA-covered only while ZDR applies to the request

    @property
    def zdr_eligible(self) -> bool:
        return self.zdr != "no"


@dataclass(frozen=True, slots=True)
class BetaSpec:
    """One `anthropic-beta` value: may it reach the upstream for a ZDR or a HIPAA organization?

    `hipaa_requires_zdr`: eligible under the BAA only while ZDR applies to the request.
    """

    id: str
    zdr_eligible: bool
    hipaa_eligible: bool
    hipaa_requires_zdr: bool
    source: str


@dataclass(frozen=True, slots=True)
class ModelPattern:
    pattern: str
    model_class: ModelClass
    source: str

    def matches(self, model: str) -> bool:
        """Model ids are compared case-insensitively: `Claude-Mythos-5` is a Mythos model."""
        return fnmatch.fnmatchcase(model.lower(), self.pattern.lower())


@dataclass(frozen=True, slots=True)
class Messages:
    """Exact client-facing error texts. `{features}` is replaced by a comma-separated list."""

    hipaa_ineligible: str
    hipaa_requires_zdr: str
    covered_model: str
    browser_access: str
    claude_code_server_storage: str
    unknown_feature: str
    malformed_request: str
    policy_unavailable: str
    zdr_plan_refused: str
    baa_plan_refused: str
    key_kind_plan_refused: str


@dataclass(frozen=True, slots=True)
class ClaudeCodeSignals:
    user_agent_prefixes: tuple[str, ...]
    x_app_values: tuple[str, ...]
    beta_prefixes: tuple[str, ...]
    server_storage_paths: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Catalog:
    version: str
    consumer_plans: frozenset[str]
    plans: frozenset[str]
    key_kinds: frozenset[str]
    retention: RetentionPeriods
    surfaces: dict[str, SurfaceSpec]
    features: dict[str, FeatureSpec]
    models: tuple[ModelPattern, ...]
    claude_code: ClaudeCodeSignals
    messages: Messages
    source_path: str
    plain_params: frozenset[str] = frozenset()
    zdr_key_kinds: frozenset[str] = frozenset({"api", "enterprise_seat"})
    zdr_plans: frozenset[str] = frozenset({"api", "enterprise"})
    key_kind_plans: dict[str, frozenset[str]] = field(default_factory=dict)
    betas: dict[str, BetaSpec] = field(default_factory=dict)
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the policy memoizes on the catalog: hash it once (version and file name identify it)
        object.__setattr__(self, "_hash", hash((self.version, self.source_path)))

    def __hash__(self) -> int:
        return self._hash

    def key_kind_allowed(self, key_kind: str, plan: str) -> bool:
        """Whether an org on `plan` may hold keys of `key_kind` (e.g. seats: enterprise only)."""
        plans = self.key_kind_plans.get(key_kind)
        return plans is None or plan in plans

    def model_class(self, model: str | None) -> ModelClass:
        if model is None:
            return "standard"
        for pattern in self.models:
            if pattern.matches(model):
                return pattern.model_class
        return "standard"

    def feature_for_tool_type(self, tool_type: str) -> str | None:
        """The feature whose longest tool-type prefix matches, so versioned variants can differ."""
        best: tuple[int, str] | None = None
        for feature in self.features.values():
            for prefix in feature.tool_type_prefixes:
                if tool_type.startswith(prefix) and (best is None or len(prefix) > best[0]):
                    best = (len(prefix), feature.id)
        return None if best is None else best[1]
