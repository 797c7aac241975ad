"""Load and validate a catalog TOML file into a frozen `Catalog`.

Every error names the file, the key path and, where it can be found, the line.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from zdr.catalog.schema import (
    BETA_NAME,
    BetaSpec,
    Catalog,
    ClaudeCodeSignals,
    FeatureSpec,
    Messages,
    ModelPattern,
    RetentionPeriods,
    SurfaceSpec,
)

REQUIRED_SURFACES = (
    "messages", "count_tokens", "models", "batches", "files",
    "claude_code_api", "claude_code_enterprise", "console", "consumer",
)
REQUIRED_FEATURES = (
    "token_counting", "prompt_caching", "thinking", "citations", "pdf", "bash", "text_editor",
    "computer_use", "memory", "inference_geo", "web_search", "web_search_dynamic_filtering",
    "web_fetch", "web_fetch_dynamic_filtering", "tool_search", "context_editing", "compaction",
    "structured_outputs",
    "code_execution", "batches", "files", "agent_skills", "mcp_connector",
    "claude_code_feedback", "claude_code_remote_session",
)


SURFACE_KEYS = frozenset({
    "zdr_eligible", "hipaa_eligible", "hipaa_requires_zdr", "hipaa_covered_models",
    "carries_content", "artifact", "artifact_days", "artifact_until_deleted", "source",
})
FEATURE_KEYS = frozenset({
    "label", "zdr", "hipaa_eligible", "hipaa_requires_zdr", "artifact", "artifact_days",
    "artifact_until_deleted", "tool_type_prefixes", "source",
})
MODEL_KEYS = frozenset({"pattern", "patterns", "class", "source"})
BETA_KEYS = frozenset({"zdr_eligible", "hipaa_eligible", "hipaa_requires_zdr", "source"})
TOP_LEVEL_KEYS = frozenset({
    "version", "plans", "consumer_plans", "zdr_plans", "key_kinds", "zdr_key_kinds",
    "key_kind_plans", "retention", "surfaces", "features", "betas", "models", "claude_code",
    "messages", "request",
})



class CatalogError(ValueError):
    """The catalog file is missing, unreadable or invalid."""


class _Reader:
    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()

    def fail(self, key: str, problem: str) -> CatalogError:
        line = self._line_of(key)
        where = f"{self.path}:{line}" if line else self.path
        return CatalogError(f"{where}: catalog key '{key}': {problem}")

    def _line_of(self, key: str) -> int | None:
        parts = key.split(".")
        for depth in range(len(parts), 0, -1):
            header = re.compile(r"^\s*\[+\s*" + re.escape(".".join(parts[:depth])) + r"\s*\]+")
            for number, line in enumerate(self.lines, start=1):
                if header.match(line):
                    if depth == len(parts):
                        return number
                    leaf = re.compile(r"^\s*" + re.escape(parts[-1]) + r"\s*=")
                    for offset, rest in enumerate(self.lines[number:], start=number + 1):
                        if rest.lstrip().startswith("["):
                            break
                        if leaf.match(rest):
                            return offset
                    return number
        leaf = re.compile(r"^\s*" + re.escape(parts[-1]) + r"\s*=")
        for number, line in enumerate(self.lines, start=1):
            if leaf.match(line):
                return number
        return None

    def only(self, data: dict[str, Any], key: str, allowed: frozenset[str]) -> None:
        """Refuse keys the loader does not know: a typo must not silently drop a limit."""
        for name in data:
            if name not in allowed:
                raise self.fail(f"{key}.{name}" if key else name, "is not a known catalog key")

    def table(self, data: dict[str, Any], key: str, name: str) -> dict[str, Any]:
        value = data.get(name)
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value

    def entries(self, data: dict[str, Any], name: str, allowed: frozenset[str],
                named: Callable[[str], str | None] = lambda _id: None,
                ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(id, key, table) of each entry of the table `name` (`[name.<id>]`): each a table of
        `allowed` keys only; `named(id)`: what is wrong with the id itself, or None."""
        for entry_id, entry in self.table(data, name, name).items():
            key = f"{name}.{entry_id}"
            if not isinstance(entry, dict):
                raise self.fail(key, "must be a table")
            problem = named(entry_id)
            if problem is not None:
                raise self.fail(key, problem)
            self.only(entry, key, allowed)
            yield entry_id, key, entry

    def get(self, data: dict[str, Any], key: str, name: str, kind: type, default: Any = ...) -> Any:
        if name not in data:
            if default is ...:
                raise self.fail(f"{key}.{name}" if key else name, "is required")
            return default
        value = data[name]
        if kind is int and isinstance(value, bool):
            raise self.fail(f"{key}.{name}", "must be an integer")
        if not isinstance(value, kind):
            raise self.fail(f"{key}.{name}" if key else name, f"must be a {kind.__name__}")
        return value

    def days(self, data: dict[str, Any], key: str, name: str, default: Any = ...) -> Any:
        value = self.get(data, key, name, int, default)
        if value is not None and value is not ... and value < 0:
            raise self.fail(f"{key}.{name}", "must not be negative")
        return value

    def strings(self, data: dict[str, Any], key: str, name: str) -> tuple[str, ...]:
        value = self.get(data, key, name, list, [])
        if not all(isinstance(item, str) and item for item in value):
            raise self.fail(f"{key}.{name}", "must be a list of non-empty strings")
        return tuple(value)


def _retention(r: _Reader, data: dict[str, Any]) -> RetentionPeriods:
    t = r.table(data, "retention", "retention")
    periods = RetentionPeriods(
        default_content_days=r.days(t, "retention", "default_content_days"),
        custom_min_days=r.days(t, "retention", "custom_min_days"),
        max_days=r.days(t, "retention", "max_days"),
        metadata_days=r.days(t, "retention", "metadata_days"),
        classifier_result_days=r.days(t, "retention", "classifier_result_days"),
        flagged_content_days=r.days(t, "retention", "flagged_content_days"),
        covered_model_min_days=r.days(t, "retention", "covered_model_min_days"),
        deletion_restore_days=r.days(t, "retention", "deletion_restore_days"),
        purge_grace_seconds=r.days(t, "retention", "purge_grace_seconds"),
    )
    for name in ("default_content_days", "metadata_days", "classifier_result_days",
                 "flagged_content_days", "covered_model_min_days", "custom_min_days"):
        if getattr(periods, name) > periods.max_days:
            raise r.fail(f"retention.{name}", f"exceeds retention.max_days ({periods.max_days})")
    if periods.default_content_days < periods.custom_min_days:
        raise r.fail("retention.default_content_days", "is below retention.custom_min_days")
    return periods


def _artifact(r: _Reader, t: dict[str, Any], key: str) -> tuple[str | None, int | None, bool]:
    artifact = r.get(t, key, "artifact", str, None)
    days = r.days(t, key, "artifact_days", None)
    until_deleted = r.get(t, key, "artifact_until_deleted", bool, False)
    if artifact is not None and days is None and not until_deleted:
        raise r.fail(f"{key}.artifact", "needs artifact_days or artifact_until_deleted = true")
    if artifact is None and (days is not None or until_deleted):
        raise r.fail(f"{key}.artifact", "is required when a period is given")
    if days is not None and until_deleted:
        raise r.fail(f"{key}.artifact_days", "conflicts with artifact_until_deleted")
    return artifact, days, until_deleted


def _hipaa_requires_zdr(r: _Reader, t: dict[str, Any], key: str, eligible: bool) -> bool:
    requires = bool(r.get(t, key, "hipaa_requires_zdr", bool, False))
    if requires and not eligible:
        raise r.fail(f"{key}.hipaa_requires_zdr",
                     "needs hipaa_eligible = true (it narrows eligibility to ZDR requests)")
    return requires


def _source(r: _Reader, t: dict[str, Any], key: str) -> str:
    source = r.get(t, key, "source", str)
    if not source.strip():
        raise r.fail(f"{key}.source", "must say where the entry comes from")
    return str(source)


def _surfaces(r: _Reader, data: dict[str, Any]) -> dict[str, SurfaceSpec]:
    surfaces: dict[str, SurfaceSpec] = {}
    for sid, key, t in r.entries(data, "surfaces", SURFACE_KEYS):
        artifact, days, until_deleted = _artifact(r, t, key)
        surfaces[sid] = SurfaceSpec(
            id=sid,
            zdr_eligible=r.get(t, key, "zdr_eligible", bool),
            carries_content=r.get(t, key, "carries_content", bool),
            artifact=artifact,
            artifact_days=days,
            artifact_until_deleted=until_deleted,
            hipaa_covered_models=r.get(t, key, "hipaa_covered_models", bool, True),
            **_eligibility(r, t, key),
        )
    for sid in REQUIRED_SURFACES:
        if sid not in surfaces:
            raise r.fail(f"surfaces.{sid}", "is required (every surface must be classified)")
    return surfaces


def _features(r: _Reader, data: dict[str, Any]) -> dict[str, FeatureSpec]:
    features: dict[str, FeatureSpec] = {}
    for fid, key, t in r.entries(data, "features", FEATURE_KEYS):
        zdr = r.get(t, key, "zdr", str)
        if zdr not in ("yes", "qualified", "no"):
            raise r.fail(f"{key}.zdr", f"must be 'yes', 'qualified' or 'no', not {zdr!r}")
        artifact, days, until_deleted = _artifact(r, t, key)
        if zdr != "yes" and artifact is None:
            raise r.fail(f"{key}.artifact", f"is required when zdr = {zdr!r}")
        features[fid] = FeatureSpec(
            id=fid,
            label=r.get(t, key, "label", str),
            zdr=zdr,
            artifact=artifact,
            artifact_days=days,
            artifact_until_deleted=until_deleted,
            tool_type_prefixes=r.strings(t, key, "tool_type_prefixes"),
            **_eligibility(r, t, key),
        )
    for fid in REQUIRED_FEATURES:
        if fid not in features:
            raise r.fail(f"features.{fid}", "is required (the gateway detects this feature)")
    owner: dict[str, str] = {}
    for feature in features.values():
        for prefix in feature.tool_type_prefixes:
            if prefix in owner:
                raise r.fail(f"features.{feature.id}.tool_type_prefixes",
                             f"prefix {prefix!r} is also claimed by features.{owner[prefix]}")
            owner[prefix] = feature.id
    return features


def _betas(r: _Reader, data: dict[str, Any]) -> dict[str, BetaSpec]:
    betas: dict[str, BetaSpec] = {}
    for bid, key, t in r.entries(data, "betas", BETA_KEYS, _beta_name_problem):
        betas[bid] = BetaSpec(id=bid, zdr_eligible=r.get(t, key, "zdr_eligible", bool),
                              **_eligibility(r, t, key))
    return betas


def _beta_name_problem(bid: str) -> str | None:
    if BETA_NAME.fullmatch(bid):
        return None
    return ("is not a beta name (lower-case words ending in a date, "
            "e.g. interleaved-thinking-2025-05-14)")


def _eligibility(r: _Reader, t: dict[str, Any], key: str) -> dict[str, Any]:
    """What surfaces, features and betas all say: HIPAA eligibility, whether HIPAA needs ZDR
    there, and where the claim comes from."""
    hipaa = r.get(t, key, "hipaa_eligible", bool)
    return {"hipaa_eligible": hipaa, "source": _source(r, t, key),
            "hipaa_requires_zdr": _hipaa_requires_zdr(r, t, key, hipaa)}


def _key_kind_plans(r: _Reader, data: dict[str, Any], key_kinds: frozenset[str],
                    plans: frozenset[str]) -> dict[str, frozenset[str]]:
    table = r.get(data, "", "key_kind_plans", dict, {})
    limits: dict[str, frozenset[str]] = {}
    for kind in table:
        if kind not in key_kinds:
            raise r.fail(f"key_kind_plans.{kind}", "is not one of key_kinds")
        allowed = frozenset(r.strings(table, "key_kind_plans", kind))
        if not allowed <= plans:
            raise r.fail(f"key_kind_plans.{kind}", "must list plans from plans")
        limits[kind] = allowed
    return limits


def _models(r: _Reader, data: dict[str, Any]) -> tuple[ModelPattern, ...]:
    entries = r.get(data, "", "models", list, [])
    patterns: list[ModelPattern] = []
    for index, t in enumerate(entries):
        key = f"models[{index}]"
        if not isinstance(t, dict):
            raise r.fail("models", f"entry {index} must be a table")
        r.only(t, "models", MODEL_KEYS)
        model_class = r.get(t, "models", "class", str)
        if model_class not in ("standard", "covered"):
            raise r.fail("models.class", f"must be 'standard' or 'covered', not {model_class!r}")
        # `pattern = "..."`, or `patterns = [...]` for several with one class and source
        listed = r.strings(t, "models", "patterns") if "patterns" in t else (
            r.get(t, "models", "pattern", str),)
        if not listed or not all(pattern.strip() for pattern in listed):
            raise r.fail("models.pattern", f"entry {index} must not be empty")
        source = _source(r, t, key)
        patterns.extend(ModelPattern(pattern=pattern, model_class=model_class, source=source)
                        for pattern in listed)
    return tuple(patterns)


def _messages(r: _Reader, data: dict[str, Any]) -> Messages:
    t = r.table(data, "messages", "messages")
    names = Messages.__dataclass_fields__
    return Messages(**{name: r.get(t, "messages", name, str) for name in names})


def parse_catalog(text: str, path: str = "<catalog>") -> Catalog:
    r = _Reader(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogError(f"{path}: not valid TOML: {error}") from None
    r.only(data, "", TOP_LEVEL_KEYS)
    request = r.table(data, "request", "request")
    plans = frozenset(r.strings(data, "", "plans"))
    consumer = frozenset(r.strings(data, "", "consumer_plans"))
    if not consumer <= plans:
        raise r.fail("consumer_plans", "must be a subset of plans")
    key_kinds = frozenset(r.strings(data, "", "key_kinds"))
    r.get(data, "", "zdr_key_kinds", list)      # required, even if empty
    zdr_key_kinds = frozenset(r.strings(data, "", "zdr_key_kinds"))
    if not zdr_key_kinds <= key_kinds:
        raise r.fail("zdr_key_kinds", "must be a subset of key_kinds")
    r.get(data, "", "zdr_plans", list)          # required: which plans may hold ZDR and a BAA
    zdr_plans = frozenset(r.strings(data, "", "zdr_plans"))
    if not zdr_plans <= plans - consumer:
        raise r.fail("zdr_plans", "must be commercial plans (a subset of plans, no consumer plan)")
    cc = r.table(data, "claude_code", "claude_code")
    return Catalog(
        version=r.get(data, "", "version", str),
        plans=plans,
        consumer_plans=consumer,
        key_kinds=key_kinds,
        retention=_retention(r, data),
        surfaces=_surfaces(r, data),
        features=_features(r, data),
        models=_models(r, data),
        claude_code=ClaudeCodeSignals(
            user_agent_prefixes=r.strings(cc, "claude_code", "user_agent_prefixes"),
            x_app_values=r.strings(cc, "claude_code", "x_app_values"),
            beta_prefixes=r.strings(cc, "claude_code", "beta_prefixes"),
            server_storage_paths=r.strings(cc, "claude_code", "server_storage_paths"),
        ),
        messages=_messages(r, data),
        source_path=path,
        plain_params=frozenset(r.strings(request, "request", "plain_params")),
        zdr_key_kinds=zdr_key_kinds,
        zdr_plans=zdr_plans,
        key_kind_plans=_key_kind_plans(r, data, key_kinds, plans),
        betas=_betas(r, data),
    )


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load the catalog at `path`, or the packaged default when `path` is None."""
    if path is None:
        return default_catalog()
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise CatalogError(f"{path}: cannot read catalog: {error.strerror}") from None
    return parse_catalog(text, str(path))


@cache
def default_catalog() -> Catalog:
    text = resources.files("zdr.catalog").joinpath("default.toml").read_text(encoding="utf-8")
    return parse_catalog(text, "zdr/catalog/default.toml")
