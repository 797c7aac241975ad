"""`zdr explain`, `zdr policy test` and `zdr policy check`: the policy, dry-run from files."""

from __future__ import annotations

import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TextIO

import typer

from zdr.catalog import Catalog, CatalogError, load_catalog
from zdr.cli.common import JSON_HELP, fail, print_json
from zdr.policy import decide
from zdr.policy.explain import explain_text
from zdr.policy.invariants import (
    ZDR_VARIANTS,
    ChunkResult,
    check_chunk,
    chunks,
    domain_size,
    summarize,
)
from zdr.policy.scenario import Scenario, ScenarioError, compare, parse_scenario

CATALOG_HELP = "A catalog TOML file to use instead of the packaged default."
CatalogOption = Annotated[Path | None, typer.Option("--catalog", help=CATALOG_HELP,
                                                    dir_okay=False)]
SHOWN_VIOLATIONS = 20

policy_app = typer.Typer(
    name="policy",
    help="Test scenarios against the policy and check the catalog's invariants.",
    no_args_is_help=True,
)


def _catalog(path: Path | None) -> Catalog:
    try:
        return load_catalog(path)
    except CatalogError as error:
        fail(str(error))


def _scenario(path: Path, catalog: Catalog) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        fail(f"{path}: cannot read scenario: {getattr(error, 'strerror', None) or error}")
    try:
        return parse_scenario(text, path.name, catalog)
    except ScenarioError as error:
        fail(f"{path}: {error}")


def explain(
    scenario: Annotated[Path, typer.Argument(help="A scenario TOML file.", dir_okay=False)],
    json_output: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
    catalog_path: CatalogOption = None,
) -> None:
    """Dry-run one request (a scenario file) against the policy and print the decision."""
    catalog = _catalog(catalog_path)
    parsed = _scenario(scenario, catalog)
    decision = decide(parsed.facts, parsed.arrangements, catalog, parsed.now or datetime.now(UTC))
    if json_output:
        print_json(decision.as_json())
    else:
        typer.echo(explain_text(decision))


@policy_app.command("test")
def policy_test(
    directory: Annotated[Path, typer.Argument(help="A folder of scenario TOML files.",
                                              file_okay=False)],
    catalog_path: CatalogOption = None,
) -> None:
    """Run every scenario in DIR that has an [expect] table; exit 1 on any failure."""
    catalog = _catalog(catalog_path)
    if not directory.is_dir():
        fail(f"{directory}: not a folder")
    files = sorted(directory.glob("*.toml"))
    passed = failed = skipped = 0
    now = datetime.now(UTC)
    for path in files:
        scenario = _scenario(path, catalog)
        if scenario.expect is None:
            skipped += 1
            continue
        decision = decide(scenario.facts, scenario.arrangements, catalog, scenario.now or now)
        failures = compare(scenario.expect, decision)
        if not failures:
            passed += 1
            continue
        failed += 1
        typer.echo(f"FAIL {path.name}")
        for failure in failures:
            typer.echo(f"  {failure}")
        typer.echo("  decision:")
        for hit in decision.rules:
            typer.echo(f"    [{hit.id}] {hit.reason}")
    if passed + failed == 0:
        fail(f"{directory}: no scenario with an [expect] table")
    typer.echo(f"{passed} passed, {failed} failed, {skipped} without [expect] "
               f"(catalog {catalog.version})")
    if failed:
        raise typer.Exit(1)


def _check_one(job: tuple[Path | None, str, str]) -> ChunkResult:
    path, plan, zdr = job
    return check_chunk(load_catalog(path), plan, zdr, keep=SHOWN_VIOLATIONS)


@policy_app.command("check")
def policy_check(
    catalog_path: CatalogOption = None,
    workers: Annotated[int, typer.Option(help="Processes to use (0: one per CPU).",
                                         min=0)] = 0,
    plans: Annotated[list[str] | None, typer.Option(
        "--plan", help="Check only this plan (repeatable; default: every plan).")] = None,
    statuses: Annotated[list[str] | None, typer.Option(
        "--zdr-status", help="Check only this ZDR status (repeatable; default: every status).",
    )] = None,
    json_output: Annotated[bool, typer.Option("--json", help=JSON_HELP)] = False,
) -> None:
    """Check the catalog's invariants over the whole finite domain; exit 1 on a violation."""
    catalog = _catalog(catalog_path)
    for name, chosen, known in (("plan", plans, catalog.plans),
                                ("ZDR status", statuses, ZDR_VARIANTS)):
        unknown = sorted(set(chosen or ()) - set(known))
        if unknown:
            fail(f"unknown {name} {', '.join(unknown)}; one of {', '.join(sorted(known))}")
    every = chunks(catalog)
    jobs = [(catalog_path, plan, zdr) for plan, zdr in every
            if (not plans or plan in plans) and (not statuses or zdr in statuses)]
    total = domain_size(catalog) // len(every) * len(jobs)
    processes = min(workers or os.cpu_count() or 1, len(jobs))
    progress = sys.stderr if json_output else sys.stdout
    started = time.perf_counter()
    print(f"checking {total:,} cases of catalog {catalog.version} with {processes} "
          "process(es)", file=progress, flush=True)
    if processes == 1:
        results = _collect(map(_check_one, jobs), total, progress)
    else:
        # fork is instant, but unsafe once other threads exist (e.g. under a test runner)
        alone = sys.platform == "linux" and threading.active_count() == 1
        context = multiprocessing.get_context("fork" if alone else "spawn")
        with context.Pool(processes) as pool:
            results = _collect(pool.imap_unordered(_check_one, jobs), total, progress)
    checked, count, shown = summarize(results)
    elapsed = time.perf_counter() - started
    if json_output:
        print_json({
            "catalog_version": catalog.version,
            "cases": checked,
            "violations": count,
            "seconds": round(elapsed, 2),
            "counter_examples": [
                {"case": v.case.describe(), "invariant": v.invariant, "reasons": list(v.reasons)}
                for v in shown[:SHOWN_VIOLATIONS]
            ],
        })
    else:
        for violation in shown[:SHOWN_VIOLATIONS]:
            typer.echo(f"VIOLATION {violation.invariant}\n  case: {violation.case.describe()}")
            for reason in violation.reasons:
                typer.echo(f"    {reason}")
        more = f" (first {SHOWN_VIOLATIONS} shown)" if count > SHOWN_VIOLATIONS else ""
        typer.echo(f"{checked:,} cases checked in {elapsed:.1f} s: {count:,} violation(s){more}")
    if checked != total:
        fail(f"checked {checked:,} cases, expected {total:,}")
    if count:
        raise typer.Exit(1)


def _collect(outcomes: Iterable[ChunkResult], total: int, progress: TextIO) -> list[ChunkResult]:
    results: list[ChunkResult] = []
    done = 0
    for result in outcomes:
        results.append(result)
        done += result.checked
        print(f"  {done:,} / {total:,} cases", file=progress, flush=True)
    return results


def register(app: typer.Typer) -> None:
    """Add `explain` and the `policy` group to `app`."""
    app.command("explain")(explain)
    app.add_typer(policy_app, name="policy")
