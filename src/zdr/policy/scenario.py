"""Scenario files: one request against one arrangement, with optional expectations (pure).

```toml
description = "optional words"
now = "2026-11-25T12:00:00Z"            # optional; default: the caller's now
[org]        plan, zdr (none|requested|approved|denied|revoked), hipaa, optional retention_days,
             zdr_effective_at, baa_version
[workspace]  optional: retention_override_days
[key]        kind (api|enterprise_seat|console|consumer)
[request]    method, path, headers (table), body (a JSON string)
[expect]     any key of the decision's JSON (allowed, status, zdr, surface, model, model_class,
             retention, features, rules, catalog_version), plus error_contains, error_type,
             features_include, rules_include, rules_exclude, reasons_include, betas_kept and
             betas_removed (exact lists, in order),
             <record class>_kept / <record class>_days, and [expect.keep.<record class>] kept/days.
             A period that never ends is written "until_deleted".
```
Unknown keys are errors, so a typo can never make an expectation pass by being ignored.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from zdr.catalog.schema import Catalog
from zdr.policy.decision import RECORD_CLASSES, Decision
from zdr.policy.extract import extract_facts
from zdr.policy.facts import ZDR_STATUSES, Arrangements, OrgState, RequestFacts, WorkspaceState

UNTIL_DELETED = "until_deleted"
SECTIONS = frozenset({"description", "now", "org", "workspace", "key", "request", "expect"})
ORG_KEYS = frozenset({"plan", "zdr", "hipaa", "retention_days", "zdr_effective_at",
                      "baa_version", "id"})
REQUEST_KEYS = frozenset({"method", "path", "headers", "body"})
EXACT_KEYS = frozenset({"allowed", "status", "zdr", "surface", "model", "model_class",
                        "retention", "catalog_version", "betas_kept", "betas_removed"})
SET_KEYS = frozenset({"features", "rules"})
CHECK_KEYS = frozenset({"error_contains", "error_type", "features_include", "rules_include",
                        "rules_exclude", "reasons_include", "keep"})
CLASS_KEYS = frozenset(f"{c}_{suffix}" for c in RECORD_CLASSES for suffix in ("kept", "days"))
EXPECT_KEYS = EXACT_KEYS | SET_KEYS | CHECK_KEYS | CLASS_KEYS


class ScenarioError(ValueError):
    """The scenario file cannot be read as a scenario."""


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    facts: RequestFacts
    arrangements: Arrangements
    now: datetime | None
    expect: Mapping[str, Any] | None


def _table(data: Mapping[str, Any], name: str, required: bool = True) -> dict[str, Any]:
    value = data.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ScenarioError(f"[{name}] must be a table")
    return value


def _only(table: Mapping[str, Any], section: str, allowed: frozenset[str]) -> None:
    for key in table:
        if key not in allowed:
            raise ScenarioError(f"[{section}] has an unknown key '{key}'")


def _typed(table: Mapping[str, Any], section: str, key: str, kind: type, default: Any = ...) -> Any:
    if key not in table:
        if default is ...:
            raise ScenarioError(f"[{section}] needs '{key}'")
        return default
    value = table[key]
    if (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise ScenarioError(f"[{section}] '{key}' must be a {kind.__name__}")
    return value


def _moment(value: Any, where: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ScenarioError(f"{where} is not an ISO 8601 time") from None
    else:
        raise ScenarioError(f"{where} must be a time")
    if moment.tzinfo is None:
        raise ScenarioError(f"{where} needs a time zone (e.g. Z)")
    return moment


def _org(data: Mapping[str, Any]) -> OrgState:
    t = _table(data, "org")
    _only(t, "org", ORG_KEYS)
    zdr = _typed(t, "org", "zdr", str, "none")
    if zdr not in ZDR_STATUSES:
        raise ScenarioError(f"[org] zdr must be one of {', '.join(ZDR_STATUSES)}, not '{zdr}'")
    return OrgState(
        plan=_typed(t, "org", "plan", str),
        zdr_status=zdr,
        zdr_effective_at=_moment(t.get("zdr_effective_at"), "[org] zdr_effective_at"),
        hipaa=_typed(t, "org", "hipaa", bool, False),
        baa_version=_typed(t, "org", "baa_version", str, "1" if t.get("hipaa") else None),
        retention_days=_typed(t, "org", "retention_days", int, None),
        org_id=_typed(t, "org", "id", str, ""),
    )


def _body(text: Any) -> Any:
    if text is None:
        return None
    if not isinstance(text, str):
        raise ScenarioError("[request] body must be a JSON string")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ScenarioError(f"[request] body is not valid JSON (line {error.lineno}, column "
                            f"{error.colno})") from None


def parse_scenario(text: str, name: str, catalog: Catalog) -> Scenario:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError(f"not valid TOML: {error}") from None
    _only(data, "scenario", SECTIONS)
    org = _org(data)
    workspace = _table(data, "workspace", required=False)
    _only(workspace, "workspace", frozenset({"retention_override_days"}))
    key = _table(data, "key")
    _only(key, "key", frozenset({"kind"}))
    request = _table(data, "request")
    _only(request, "request", REQUEST_KEYS)
    headers = _typed(request, "request", "headers", dict, {})
    if not all(isinstance(v, str) for v in headers.values()):
        raise ScenarioError("[request] headers must all be strings")
    kind = _typed(key, "key", "kind", str)
    facts = extract_facts(
        _typed(request, "request", "method", str, "POST"),
        _typed(request, "request", "path", str),
        {k.lower(): v for k, v in headers.items()},
        _body(request.get("body")),
        kind,
        catalog,
    )
    override = _typed(workspace, "workspace", "retention_override_days", int, None)
    expect = data.get("expect")
    if expect is not None:
        if not isinstance(expect, dict):
            raise ScenarioError("[expect] must be a table")
        _check_expect(expect)
    return Scenario(
        name=name,
        description=_typed(data, "scenario", "description", str, ""),
        facts=facts,
        arrangements=Arrangements(org, kind, WorkspaceState(override)),
        now=_moment(data.get("now"), "now"),
        expect=expect,
    )


def _check_expect(expect: Mapping[str, Any]) -> None:
    _only(expect, "expect", EXPECT_KEYS)
    keep = expect.get("keep", {})
    if not isinstance(keep, dict):
        raise ScenarioError("[expect.keep] must be a table")
    for record_class, spec in keep.items():
        if record_class not in RECORD_CLASSES or not isinstance(spec, dict):
            raise ScenarioError(f"[expect.keep] has an unknown record class '{record_class}'")
        _only(spec, f"expect.keep.{record_class}", frozenset({"kept", "days"}))


def _days(value: Any) -> Any:
    return None if value == UNTIL_DELETED else value


def _show(value: Any) -> str:
    return json.dumps(value)


def compare(expect: Mapping[str, Any], decision: Decision) -> list[str]:
    """Each expectation the decision does not meet, as `key: expected …, got …`."""
    got = decision.as_json()
    failures: list[str] = []

    def check(key: str, want: Any, have: Any) -> None:
        if want != have:
            failures.append(f"{key}: expected {_show(want)}, got {_show(have)}")

    for key in sorted(expect.keys() & EXACT_KEYS):
        check(key, expect[key], got[key])
    for key in sorted(expect.keys() & SET_KEYS):
        check(key, sorted(expect[key]), sorted(got[key]))
    error = got["error"] or {}
    if "error_contains" in expect and str(expect["error_contains"]) not in error.get("message", ""):
        failures.append(f"error_contains: expected {_show(expect['error_contains'])} in "
                        f"{_show(error.get('message'))}")
    if "error_type" in expect:
        check("error_type", expect["error_type"], error.get("type"))
    for key, have in (("features_include", got["features"]), ("rules_include", got["rules"])):
        missing = sorted(set(expect.get(key, ())) - set(have))
        if missing:
            failures.append(f"{key}: missing {_show(missing)}, got {_show(have)}")
    present = sorted(set(expect.get("rules_exclude", ())) & set(got["rules"]))
    if present:
        failures.append(f"rules_exclude: present {_show(present)}")
    reasons = " ".join(got["reasons"])
    for phrase in expect.get("reasons_include", ()):
        if phrase not in reasons:
            failures.append(f"reasons_include: no reason says {_show(phrase)}")
    for record_class in RECORD_CLASSES:
        keep = got["keep"][record_class]
        spec = dict(expect.get("keep", {}).get(record_class, {}))
        if f"{record_class}_kept" in expect:
            spec["kept"] = expect[f"{record_class}_kept"]
        if f"{record_class}_days" in expect:
            spec["days"] = expect[f"{record_class}_days"]
        if "kept" in spec:
            check(f"keep.{record_class}.kept", spec["kept"], keep["kept"])
        if "days" in spec:
            check(f"keep.{record_class}.days", _days(spec["days"]), keep["days"])
    return failures
