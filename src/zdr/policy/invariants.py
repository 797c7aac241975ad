"""The catalog's invariants, checked over the whole finite domain of the policy (pure).

The domain: every plan x ZDR status (incl. approved but not yet in force) x HIPAA flag x key kind x
surface x model class x workspace override (none, 30, 90) x feature set (none, each single
feature, each pair). `chunks` splits it by (plan, ZDR status) so callers can run chunks in
parallel; `check_chunk` evaluates each case and returns the counter-examples.

Some invariants compare against the design itself (`DESIGN_FLOOR`), not only against the catalog:
a catalog that marks code execution HIPAA-eligible is self-consistent, and still wrong.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import combinations

from zdr.catalog.schema import Catalog, SurfaceSpec
from zdr.policy.decide import evaluate, zdr_in_force
from zdr.policy.decision import Decision
from zdr.policy.facts import Arrangements, OrgState, RequestFacts, WorkspaceState

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ZDR_VARIANTS = ("none", "requested", "approved", "approved_not_yet_effective", "denied", "revoked")
OVERRIDES = (None, 30, 90)


@dataclass(frozen=True, slots=True)
class DesignFloor:
    """What docs/DESIGN.md §2 fixes, whatever an operator's catalog says."""

    never_zdr: frozenset[str]        # features whose data is kept outside ZDR
    never_hipaa: frozenset[str]      # features (and surfaces) the BAA does not cover
    never_zdr_surfaces: frozenset[str]


DESIGN_FLOOR = DesignFloor(
    never_zdr=frozenset({
        "code_execution", "batches", "files", "agent_skills", "mcp_connector",
        "web_search_dynamic_filtering",
    }),
    never_hipaa=frozenset({
        "web_search", "web_search_dynamic_filtering", "web_fetch", "tool_search",
        "context_editing", "compaction", "code_execution", "batches", "files", "agent_skills",
        "mcp_connector",
    }),
    never_zdr_surfaces=frozenset({"console", "consumer", "batches", "files"}),
)


@dataclass(frozen=True, slots=True)
class Case:
    plan: str
    zdr: str
    hipaa: bool
    key_kind: str
    surface: str
    model_class: str
    override: int | None
    features: tuple[str, ...]

    def describe(self) -> str:
        return (f"plan={self.plan} zdr={self.zdr} hipaa={str(self.hipaa).lower()} "
                f"key={self.key_kind} surface={self.surface} model={self.model_class} "
                f"override={self.override if self.override is not None else 'none'} "
                f"features={','.join(self.features) or '-'}")


@dataclass(frozen=True, slots=True)
class Violation:
    case: Case
    invariant: str
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ChunkResult:
    checked: int
    violations: tuple[Violation, ...]
    violation_count: int


def model_for(catalog: Catalog, model_class: str) -> str:
    """A model id of the given class, built from the catalog's own patterns."""
    for pattern in catalog.models:
        if pattern.model_class == model_class:
            candidate = pattern.pattern.replace("*", "check").replace("?", "x")
            if catalog.model_class(candidate) == model_class:
                return candidate
    candidate = "claude-policy-check-standard"
    if model_class == "standard" and catalog.model_class(candidate) == "standard":
        return candidate
    raise ValueError(f"the catalog has no model of class {model_class!r}")


def feature_sets(catalog: Catalog) -> list[tuple[str, ...]]:
    ids = sorted(catalog.features)
    return [(), *((f,) for f in ids), *combinations(ids, 2)]


def chunks(catalog: Catalog) -> list[tuple[str, str]]:
    return [(plan, zdr) for plan in sorted(catalog.plans) for zdr in ZDR_VARIANTS]


def domain_size(catalog: Catalog) -> int:
    per_chunk = (2 * len(catalog.key_kinds) * len(catalog.surfaces) * 2 * len(OVERRIDES)
                 * len(feature_sets(catalog)))
    return len(chunks(catalog)) * per_chunk


def _org(plan: str, zdr: str, hipaa: bool) -> OrgState:
    if zdr == "approved":
        return OrgState(plan, "approved", NOW - timedelta(days=1), hipaa,
                        "2026-01" if hipaa else None)
    if zdr == "approved_not_yet_effective":
        return OrgState(plan, "approved", NOW + timedelta(days=1), hipaa,
                        "2026-01" if hipaa else None)
    return OrgState(plan, zdr, None, hipaa, "2026-01" if hipaa else None)  # type: ignore[arg-type]


def cases(
    catalog: Catalog, plan: str, zdr: str
) -> Iterator[tuple[Case, RequestFacts, Arrangements]]:
    """Every case of one (plan, ZDR status) chunk, with the inputs `decide` takes."""
    requests = _requests(catalog)
    for hipaa in (False, True):
        org = _org(plan, zdr, hipaa)
        for key_kind in sorted(catalog.key_kinds):
            for override in OVERRIDES:
                arrangements = Arrangements(org, key_kind, WorkspaceState(override))
                for request in requests:
                    case = Case(plan, zdr, hipaa, key_kind, request.surface, request.model_class,
                                override, request.features)
                    yield case, request.facts, arrangements


@dataclass(frozen=True, slots=True)
class _Request:
    """One (surface, model class, feature set) of the domain, with what the checks precompute."""

    surface: str
    model_class: str
    features: tuple[str, ...]
    facts: RequestFacts
    spec: SurfaceSpec
    never_zdr_used: tuple[str, ...]
    hipaa_bad: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Caller:
    """One (plan, HIPAA, key kind, override) of the domain; `zdr_scope` per the design."""

    plan: str
    hipaa: bool
    key_kind: str
    override: int | None
    never_zdr: bool
    zdr_scope: bool


def _request(catalog: Catalog, surface: str, model_class: str, model: str,
             features: tuple[str, ...]) -> _Request:
    spec = catalog.surfaces[surface]
    bad = [f for f in features
           if f in DESIGN_FLOOR.never_hipaa or not catalog.features[f].hipaa_eligible]
    if surface in DESIGN_FLOOR.never_hipaa or not spec.hipaa_eligible:
        bad.append(f"surface:{surface}")
    facts = RequestFacts(surface, frozenset(features), model)
    never_zdr = tuple(f for f in features if f in DESIGN_FLOOR.never_zdr)
    return _Request(surface, model_class, features, facts, spec, never_zdr, tuple(bad))


def _requests(catalog: Catalog) -> list[_Request]:
    models = {mc: model_for(catalog, mc) for mc in ("standard", "covered")}
    return [
        _request(catalog, surface, model_class, model, features)
        for surface in sorted(catalog.surfaces)
        for model_class, model in models.items()
        for features in feature_sets(catalog)
    ]


def _caller(catalog: Catalog, plan: str, hipaa: bool, key_kind: str, override: int | None,
            org_zdr: bool) -> _Caller:
    never = plan in catalog.consumer_plans or key_kind in ("console", "consumer")
    scope = org_zdr and override is None and key_kind in catalog.zdr_key_kinds
    return _Caller(plan, hipaa, key_kind, override, never, scope)


def check_chunk(catalog: Catalog, plan: str, zdr: str, keep: int = 20) -> ChunkResult:
    """Evaluate every case of one (plan, ZDR status) chunk; keep the first `keep` violations."""
    found: list[Violation] = []
    checked = count = 0
    in_force = zdr_in_force(Arrangements(_org(plan, zdr, False)), catalog, NOW)
    requests = _requests(catalog)
    for hipaa in (False, True):
        org = _org(plan, zdr, hipaa)
        for key_kind in sorted(catalog.key_kinds):
            for override in OVERRIDES:
                arrangements = Arrangements(org, key_kind, WorkspaceState(override))
                caller = _caller(catalog, plan, hipaa, key_kind, override, in_force)
                for request in requests:
                    checked += 1
                    try:
                        decision = evaluate(request.facts, arrangements, catalog, in_force)
                    except Exception as error:  # noqa: BLE001 - a catalog gap is a counter-example
                        problems = [f"evaluation raised {type(error).__name__}: the catalog has "
                                    "a gap"]
                        reasons: tuple[str, ...] = ()
                    else:
                        problems = _violations(caller, request, decision, catalog, in_force)
                        if problems:
                            reasons = tuple(f"[{hit.id}] {hit.reason}" for hit in decision.rules)
                    if not problems:
                        continue
                    count += len(problems)
                    case = Case(plan, zdr, hipaa, key_kind, request.surface, request.model_class,
                                override, request.features)
                    found.extend(Violation(case, problem, reasons)
                                 for problem in problems[: max(0, keep - len(found))])
    return ChunkResult(checked, tuple(found), count)


def violations(case: Case, decision: Decision, catalog: Catalog, now: datetime) -> list[str]:
    """Every invariant `decision` (for `case`, at `now`) breaks, as one sentence each."""
    org = _org(case.plan, case.zdr, case.hipaa)
    in_force = zdr_in_force(Arrangements(org), catalog, now)
    request = _request(catalog, case.surface, case.model_class, decision.model or "",
                       case.features)
    caller = _caller(catalog, case.plan, case.hipaa, case.key_kind, case.override, in_force)
    return _violations(caller, request, decision, catalog, in_force)


def _violations(caller: _Caller, request: _Request, decision: Decision, catalog: Catalog,
                org_zdr: bool) -> list[str]:
    problems: list[str] = []
    retention = catalog.retention
    keep = decision.keep
    content = keep["content"]
    surface = request.spec
    zdr = decision.zdr

    if zdr != "none":
        if caller.never_zdr:
            problems.append(f"a consumer plan, console key or consumer key got ZDR '{zdr}'")
        if not org_zdr:
            problems.append(f"ZDR '{zdr}' without an approved, in-force, commercial ZDR")
    if zdr == "applied" and decision.allowed:
        if content.kept:
            problems.append("under zdr=applied content is kept")
        if not surface.zdr_eligible or request.surface in DESIGN_FLOOR.never_zdr_surfaces:
            problems.append(f"zdr=applied on the {request.surface} surface, which ZDR never "
                            "covers")
        if request.never_zdr_used:
            problems.append("zdr=applied with a feature the design keeps outside ZDR: "
                            + ", ".join(request.never_zdr_used))
        if keep["feature_artifact"].kept and not all(
            catalog.features[a.feature].zdr == "qualified" for a in decision.artifacts
        ):
            problems.append("under zdr=applied a non-qualified feature artifact is kept")
    if caller.zdr_scope and surface.zdr_eligible and content.kept:
        problems.append("ZDR in force on an eligible surface, yet content is kept (fail open)")
    if zdr == "partial" and not decision.artifacts and surface.artifact is None:
        problems.append("zdr=partial without naming what ZDR did not cover")
    if caller.hipaa and decision.allowed and request.hipaa_bad:
        problems.append("a HIPAA org was allowed HIPAA-ineligible " + ", ".join(request.hipaa_bad))
    if request.model_class == "covered" and surface.carries_content and decision.allowed:
        if caller.zdr_scope:
            problems.append("a covered model was allowed from a ZDR scope without the override")
        if not (content.kept and content.days is not None
                and content.days >= retention.covered_model_min_days):
            problems.append("a covered model ran without its content kept for review")
    if not decision.allowed:
        kept = sorted(name for name, k in keep.items() if k.kept and name != "metadata")
        if kept:
            problems.append("a refused request keeps more than metadata: " + ", ".join(kept))
    elif surface.carries_content:
        if zdr == "none" and not content.kept:
            problems.append("an allowed request outside ZDR lost its content (not kept)")
        if not (keep["classifier_result"].kept and keep["flagged_content"].kept):
            problems.append("classifier results or the misuse exception are missing")
    problems.extend(_period_problems(decision, catalog))
    # fail_closed.* hits always come first; empty reasons are checked by the property tests
    if not decision.rules or decision.rules[0].id.startswith("fail_closed."):
        problems.append("a decision without a reason, or one the catalog could not evaluate")
    return problems


def _period_problems(decision: Decision, catalog: Catalog) -> list[str]:
    retention = catalog.retention
    problems = []
    for name, keep in decision.keep.items():
        if not keep.kept:
            continue
        if keep.days is None:
            if name != "feature_artifact" or not any(a.days is None for a in decision.artifacts):
                problems.append(f"{name} kept with no end and no until-deleted artifact")
        elif not 1 <= keep.days <= retention.max_days:
            problems.append(f"{name} kept {keep.days} days, outside 1..{retention.max_days}")
        elif name == "content" and keep.days < retention.custom_min_days:
            problems.append(f"content kept {keep.days} days, below {retention.custom_min_days}")
    return problems


def summarize(results: Sequence[ChunkResult]) -> tuple[int, int, list[Violation]]:
    checked = sum(r.checked for r in results)
    count = sum(r.violation_count for r in results)
    return checked, count, [v for r in results for v in r.violations]
