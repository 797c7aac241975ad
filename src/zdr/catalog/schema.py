"""Frozen types of the policy catalog. Pure data: no I/O, no defaults hidden in code."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Literal

ModelClass = Literal["standard", "covered"]


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
    id: str
    zdr_eligible: bool
    hipaa_eligible: bool
    carries_content: bool
    artifact: str | None
    artifact_days: int | None
    artifact_until_deleted: bool
    source: str


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

    @property
    def zdr_eligible(self) -> bool:
        return self.zdr != "no"


@dataclass(frozen=True, slots=True)
class ModelPattern:
    pattern: str
    model_class: ModelClass
    source: str

    def matches(self, model: str) -> bool:
        return fnmatch.fnmatchcase(model, self.pattern)


@dataclass(frozen=True, slots=True)
class Messages:
    """Exact client-facing error texts. `{features}` is replaced by a comma-separated list."""

    hipaa_ineligible: str
    covered_model: str
    browser_access: str
    claude_code_server_storage: str
    unknown_feature: str
    policy_unavailable: str
    consumer_zdr_refused: str


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
    _hash: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the policy memoizes on the catalog: hash it once (version and file name identify it)
        object.__setattr__(self, "_hash", hash((self.version, self.source_path)))

    def __hash__(self) -> int:
        return self._hash

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
