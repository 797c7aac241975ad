"""The catalog's invariants, checked over the whole finite domain of the policy (pure).

The domain: every plan x ZDR status (incl. approved but not yet in force) x HIPAA flag x key kind x
surface x model class x workspace override (none, 30, 90) x feature set (none, each single
feature, each pair), plus reads and deletes (GET, DELETE) on the files and batches surfaces. Every
request carries every beta of the catalog and one it does not know in `anthropic-beta`. `chunks`
splits the domain by (plan, ZDR status) so callers can run chunks in parallel; `check_chunk`
evaluates each case and returns the counter-examples.

Some invariants compare against the design itself (`DESIGN_FLOOR`), not only against the catalog:
a catalog that marks code execution HIPAA-eligible is self-consistent, and still wrong.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import combinations

from zdr.catalog.schema import Catalog, SurfaceSpec
from zdr.policy.decide import evaluate, zdr_in_force
from zdr.policy.decision import Decision
from zdr.policy.facts import Arrangements, OrgState, RequestFacts, WorkspaceState

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ZDR_VARIANTS = ("none", "requested", "approved", "approved_not_yet_effective", "denied", "revoked")
OVERRIDES = (None, 30, 90)
READ_METHODS = ("GET", "DELETE")
UNKNOWN_BETA = "policy-check-unknown-2099-01-01"


@dataclass(frozen=True, slots=True)
class DesignFloor:
    """What docs/DESIGN.md §2 fixes, whatever an operator's catalog says."""

    never_zdr: frozenset[str]        # features whose data is kept outside ZDR
    never_hipaa: frozenset[str]      # features (and surfaces) the BAA does not cover
    hipaa_needs_zdr: frozenset[str]  # features and surfaces the BAA covers only with ZDR in force
    never_zdr_surfaces: frozenset[str]
    artifact_surfaces: frozenset[str]  # the upstream holds what they carry; never copied here
    zdr_plans: frozenset[str]        # the only plans that can hold ZDR (or a BAA)
    seat_plans: frozenset[str]       # the only plans whose enterprise_seat keys can get ZDR
    claude_code_surfaces: frozenset[str]  # covered models are never BAA-covered on them
    cli_betas: frozenset[str]        # what the Claude Code CLI sends: never removed under ZDR


DESIGN_FLOOR = DesignFloor(
    never_zdr=frozenset({
        "code_execution", "batches", "files", "agent_skills", "mcp_connector",
        "web_search_dynamic_filtering",
    }),
    never_hipaa=frozenset({
        "web_search", "web_search_dynamic_filtering", "code_execution", "batches", "files",
        "agent_skills", "mcp_connector", "console", "consumer",
    }),
    hipaa_needs_zdr=frozenset({
        "web_fetch", "tool_search", "context_editing", "compaction", "claude_code_api",
        "claude_code_enterprise",
    }),
    never_zdr_surfaces=frozenset({"console", "consumer", "batches", "files"}),
    artifact_surfaces=frozenset({"batches", "files"}),
    zdr_plans=frozenset({"api", "enterprise"}),
    seat_plans=frozenset({"enterprise"}),
    claude_code_surfaces=frozenset({"claude_code_api", "claude_code_enterprise"}),
    # captured on the wire from @anthropic-ai/claude-code 2.1.332 (`claude -p`)
    cli_betas=frozenset({
        "claude-code-20250219", "interleaved-thinking-2025-05-14",
        "context-management-2025-06-27", "per-turn-control-2026-07-01",
        "mid-conversation-tool-changes-2026-07-01", "thinking-token-count-2026-05-13",
        "advanced-tool-use-2025-11-20", "effort-2025-11-24",
    }),
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
    method: str = "POST"

    def describe(self) -> str:
        method = "" if self.method == "POST" else f" method={self.method}"
        return (f"plan={self.plan} zdr={self.zdr} hipaa={str(self.hipaa).lower()} "
                f"key={self.key_kind} surface={self.surface}{method} model={self.model_class} "
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
            candidate = (pattern.pattern.replace("*", "check").replace("?", "x")
                         .replace("[0-9]", "5"))
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
    per_chunk = 2 * len(catalog.key_kinds) * len(OVERRIDES) * len(_requests(catalog))
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
                                override, request.features, request.method)
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
    hipaa_bad: tuple[str, ...]          # never BAA-covered
    hipaa_needs_zdr: tuple[str, ...]    # BAA-covered only with ZDR in force
    method: str
    reading: bool                       # a read or delete of the org's own files or batches


@dataclass(frozen=True, slots=True)
class _Caller:
    """One (plan, HIPAA, key kind, override) of the domain; `zdr_scope` per the design."""

    plan: str
    hipaa: bool
    key_kind: str
    override: int | None
    never_zdr: bool
    zdr_scope: bool


def _request(catalog: Catalog, surface: str, model_class: str, model: str | None,
             features: tuple[str, ...], method: str = "POST") -> _Request:
    spec = catalog.surfaces[surface]
    floor = DESIGN_FLOOR
    reading = surface in floor.artifact_surfaces and method in READ_METHODS
    own = surface if reading else ""
    bad = [f for f in features if f != own
           and (f in floor.never_hipaa or not catalog.features[f].hipaa_eligible)]
    needs_zdr = [f for f in features if f not in bad and f != own
                 and (f in floor.hipaa_needs_zdr or catalog.features[f].hipaa_requires_zdr)]
    if not reading and (surface in floor.never_hipaa or not spec.hipaa_eligible):
        bad.append(f"surface:{surface}")
    elif surface in floor.hipaa_needs_zdr or spec.hipaa_requires_zdr:
        needs_zdr.append(f"surface:{surface}")
    if model_class == "covered" and surface in floor.claude_code_surfaces:
        bad.append(f"covered model in {surface}")
    facts = RequestFacts(surface, frozenset(features), model, method=method,
                         betas=(*sorted(catalog.betas), UNKNOWN_BETA))
    never_zdr = tuple(f for f in features if f in floor.never_zdr)
    return _Request(surface, model_class, features, facts, spec, never_zdr, tuple(bad),
                    tuple(needs_zdr), method, reading)


@lru_cache(maxsize=8)
def _requests(catalog: Catalog) -> tuple[_Request, ...]:
    models = {mc: model_for(catalog, mc) for mc in ("standard", "covered")}
    writes = [
        _request(catalog, surface, model_class, model, features)
        for surface in sorted(catalog.surfaces)
        for model_class, model in models.items()
        for features in feature_sets(catalog)
    ]
    reads = [
        _request(catalog, surface, "standard", None, features, method)
        for surface in sorted(DESIGN_FLOOR.artifact_surfaces & catalog.surfaces.keys())
        for method in READ_METHODS
        for features in ((), (surface,) if surface in catalog.features else ())
    ]
    return (*writes, *reads)


def _caller(catalog: Catalog, plan: str, hipaa: bool, key_kind: str, override: int | None,
            org_zdr: bool) -> _Caller:
    floor = DESIGN_FLOOR
    never = (plan not in floor.zdr_plans or key_kind in ("console", "consumer")
             or (key_kind == "enterprise_seat" and plan not in floor.seat_plans))
    scope = (org_zdr and override is None and key_kind in catalog.zdr_key_kinds
             and catalog.key_kind_allowed(key_kind, plan))
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
                        problems = _violations(caller, request, decision, catalog, in_force,
                                               request.facts.betas)
                        if problems:
                            reasons = tuple(f"[{hit.id}] {hit.reason}" for hit in decision.rules)
                    if not problems:
                        continue
                    count += len(problems)
                    case = Case(plan, zdr, hipaa, key_kind, request.surface, request.model_class,
                                override, request.features, request.method)
                    found.extend(Violation(case, problem, reasons)
                                 for problem in problems[: max(0, keep - len(found))])
    return ChunkResult(checked, tuple(found), count)


def violations(case: Case, decision: Decision, catalog: Catalog, now: datetime) -> list[str]:
    """Every invariant `decision` (for `case`, at `now`) breaks, as one sentence each."""
    org = _org(case.plan, case.zdr, case.hipaa)
    in_force = zdr_in_force(Arrangements(org), catalog, now)
    request = _request(catalog, case.surface, case.model_class, decision.model,
                       case.features, case.method)
    caller = _caller(catalog, case.plan, case.hipaa, case.key_kind, case.override, in_force)
    sent = tuple(sorted((*decision.betas_kept, *decision.betas_removed)))
    return _violations(caller, request, decision, catalog, in_force, sent)


def _violations(caller: _Caller, request: _Request, decision: Decision, catalog: Catalog,
                org_zdr: bool, sent: tuple[str, ...]) -> list[str]:
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
    if caller.hipaa and decision.allowed:
        if request.hipaa_bad:
            problems.append("a HIPAA org was allowed HIPAA-ineligible "
                            + ", ".join(request.hipaa_bad))
        if request.hipaa_needs_zdr and not caller.zdr_scope:
            problems.append("a HIPAA org without ZDR in force was allowed "
                            + ", ".join(request.hipaa_needs_zdr))
    if (caller.hipaa and request.reading and not decision.allowed
            and any(hit.id.startswith("hipaa.") for hit in decision.rules)):
        problems.append(f"a HIPAA org was refused a {request.method} of its own "
                        f"{request.surface}")
    # files and batches (the floor), and any other surface whose artifact the upstream holds
    upstream_only = (request.surface in DESIGN_FLOOR.artifact_surfaces
                     or surface.artifact is not None)
    if upstream_only and content.kept:
        problems.append(f"what a {request.surface} request carries was copied into the store")
    if request.model_class == "covered" and surface.carries_content and decision.allowed:
        if caller.zdr_scope:
            problems.append("a covered model was allowed from a ZDR scope without the override")
        if not upstream_only and not (content.kept and content.days is not None
                                      and content.days >= retention.covered_model_min_days):
            problems.append("a covered model ran without its content kept for review")
    if not decision.allowed:
        kept = sorted(name for name, k in keep.items() if k.kept and name != "metadata")
        if kept:
            problems.append("a refused request keeps more than metadata: " + ", ".join(kept))
    elif surface.carries_content:
        if zdr == "none" and not content.kept and not upstream_only:
            problems.append("an allowed request outside ZDR lost its content (not kept)")
        if not (keep["classifier_result"].kept and keep["flagged_content"].kept):
            problems.append("classifier results or the misuse exception are missing")
    if decision.allowed:
        problems.extend(_beta_problems(catalog, sent, caller.zdr_scope,
                                       caller.hipaa, decision.betas_kept,
                                       decision.betas_removed))
    problems.extend(_period_problems(decision, catalog))
    # fail_closed.* hits always come first; empty reasons are checked by the property tests
    if not decision.rules or decision.rules[0].id.startswith("fail_closed."):
        problems.append("a decision without a reason, or one the catalog could not evaluate")
    return problems


@lru_cache(maxsize=256)
def _beta_problems(catalog: Catalog, sent: tuple[str, ...], zdr: bool, hipaa: bool,
                   kept: tuple[str, ...], removed: tuple[str, ...]) -> tuple[str, ...]:
    """Rule 5a: betas pass unchanged unless ZDR applies or HIPAA is on; then only eligible ones,
    and never one the Claude Code CLI sends while ZDR applies."""
    problems = []
    if sorted(kept + removed) != sorted(sent) or set(kept) & set(removed):
        problems.append("anthropic-beta values were lost or invented")
    if not (zdr or hipaa):
        if removed:
            problems.append("betas were removed for an org with neither ZDR nor HIPAA")
        return tuple(problems)
    specs = catalog.betas
    if UNKNOWN_BETA in kept:
        problems.append("a beta unknown to the catalog reached the upstream under ZDR or HIPAA")
    if zdr and any(not specs[b].zdr_eligible for b in kept if b in specs):
        problems.append("a beta that is not ZDR-eligible reached the upstream under ZDR")
    if hipaa and any(not specs[b].hipaa_eligible or (specs[b].hipaa_requires_zdr and not zdr)
                     for b in kept if b in specs):
        problems.append("a beta the BAA does not cover reached the upstream for a HIPAA org")
    cli_removed = sorted(DESIGN_FLOOR.cli_betas & set(removed))
    if zdr and cli_removed:
        problems.append("a beta the Claude Code CLI sends was removed under ZDR: "
                        + ", ".join(cli_removed))
    return tuple(problems)


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
