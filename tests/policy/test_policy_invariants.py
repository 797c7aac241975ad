"""`zdr policy check`: the invariants hold for the shipped catalog and catch a broken one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zdr.catalog import parse_catalog
from zdr.catalog.load import default_catalog
from zdr.cli import app
from zdr.policy.invariants import check_chunk, chunks, domain_size, feature_sets

DEFAULT_TOML = (Path(__file__).parents[2] / "src/zdr/catalog/default.toml").read_text()


def broken(old: str, new: str) -> str:
    """The default catalog with one line changed (the change must apply)."""
    assert old in DEFAULT_TOML
    return DEFAULT_TOML.replace(old, new, 1)


CODE_EXEC_HIPAA = broken(
    'label = "Code execution / programmatic tool calling"\nzdr = "no"\nhipaa_eligible = false',
    'label = "Code execution / programmatic tool calling"\nzdr = "no"\nhipaa_eligible = true',
)

BROKEN_CATALOGS = [
    # (id, catalog text, a phrase of the violation expected)
    # code execution marked HIPAA-eligible: the BAA does not cover it
    ("code_execution_hipaa", CODE_EXEC_HIPAA, "HIPAA org was allowed HIPAA-ineligible code_exec"),
    # code execution marked ZDR-eligible: its container is kept, so zdr=applied would lie
    ("code_execution_zdr_yes", broken(
        'label = "Code execution / programmatic tool calling"\nzdr = "no"',
        'label = "Code execution / programmatic tool calling"\nzdr = "yes"'),
     "keeps outside ZDR: code_execution"),
    # the console made ZDR-eligible
    ("console_zdr", broken(
        '[surfaces.console]\nzdr_eligible = false', '[surfaces.console]\nzdr_eligible = true'),
     "which ZDR never covers"),
    # console keys allowed ZDR
    ("console_key_zdr", broken(
        'zdr_key_kinds = ["api", "enterprise_seat"]',
        'zdr_key_kinds = ["api", "enterprise_seat", "console"]'),
     "console key or consumer key got ZDR"),
    # web fetch BAA-covered without ZDR: the provider refuses it "without Zero Data Retention"
    ("web_fetch_hipaa_without_zdr", broken(
        'hipaa_eligible = true\nhipaa_requires_zdr = true\ntool_type_prefixes = ["web_fetch_"]',
        'hipaa_eligible = true\ntool_type_prefixes = ["web_fetch_"]'),
     "HIPAA org without ZDR in force was allowed web_fetch"),
    # Claude Code BAA-covered without ZDR
    ("claude_code_hipaa_without_zdr", broken(
        '[surfaces.claude_code_api]\nzdr_eligible = true\nhipaa_eligible = true\n'
        'hipaa_requires_zdr = true\n',
        '[surfaces.claude_code_api]\nzdr_eligible = true\nhipaa_eligible = true\n'),
     "without ZDR in force was allowed surface:claude_code_api"),
    # team orgs allowed ZDR
    ("team_zdr", broken('zdr_plans = ["api", "enterprise"]',
                        'zdr_plans = ["api", "enterprise", "team"]'), "got ZDR"),
    # Enterprise seats of any plan allowed ZDR
    ("seat_any_plan", broken('enterprise_seat = ["enterprise"]',
                             'enterprise_seat = ["enterprise", "api"]'), "got ZDR"),
    # a beta the Claude Code CLI sends marked not ZDR-eligible: the CLI would break under ZDR
    ("cli_beta_removed", broken('[betas."claude-code-20250219"]\nzdr_eligible = true',
                                '[betas."claude-code-20250219"]\nzdr_eligible = false'),
     "a beta the Claude Code CLI sends was removed under ZDR: claude-code-20250219"),
]

# chunks whose plan the broken catalog needs (the others run on enterprise / approved)
CHUNK_OF = {"team_zdr": ("team", "approved"), "seat_any_plan": ("api", "approved"),
            "web_fetch_hipaa_without_zdr": ("enterprise", "none"),
            "claude_code_hipaa_without_zdr": ("enterprise", "none")}


@pytest.mark.parametrize(("name", "text", "phrase"), BROKEN_CATALOGS,
                         ids=[c[0] for c in BROKEN_CATALOGS])
def test_broken_catalog_is_caught(name, text, phrase):
    """A catalog that relaxes the design yields counter-examples with the decision's reasons."""
    assert text != DEFAULT_TOML
    catalog = parse_catalog(text, f"<{name}>")
    plan, status = CHUNK_OF.get(name, ("enterprise", "approved"))
    found = check_chunk(catalog, plan, status, keep=10_000).violations
    assert any(phrase in v.invariant for v in found), {v.invariant for v in found}
    assert all(v.reasons for v in found)


def test_shipped_catalog_chunks_are_clean():
    """Two representative chunks of the shipped catalog (the CI runs all of them)."""
    catalog = default_catalog()
    for plan, zdr in (("api", "approved"),):
        result = check_chunk(catalog, plan, zdr)
        assert result.violation_count == 0, result.violations[:3]
        assert result.checked == domain_size(catalog) // len(chunks(catalog))


def test_domain_covers_every_single_feature_and_pair():
    """The domain's feature sets are: none, each feature, each pair."""
    catalog = default_catalog()
    n = len(catalog.features)
    sets = feature_sets(catalog)
    assert len(sets) == 1 + n + n * (n - 1) // 2
    assert len(set(sets)) == len(sets)
    reads = 2 * 2 * 2     # files and batches x GET and DELETE x (no feature, its own feature)
    assert domain_size(catalog) == (len(catalog.plans) * 6 * 2 * len(catalog.key_kinds) * 3
                                    * (len(catalog.surfaces) * 2 * len(sets) + reads))


def test_cli_check_reports_counter_examples(tmp_path):
    """`zdr policy check --catalog BROKEN` exits 1, prints the count and each counter-example
    with its reasons."""
    path = tmp_path / "broken.toml"
    path.write_text(CODE_EXEC_HIPAA)
    result = CliRunner().invoke(app, ["policy", "check", "--catalog", str(path),
                                      "--plan", "enterprise", "--zdr-status", "none"])
    assert result.exit_code == 1, result.output
    assert "VIOLATION a HIPAA org was allowed HIPAA-ineligible code_execution" in result.output
    assert "[hipaa.eligible]" in result.output
    assert "cases checked" in result.output
    assert re.search(r"\n  ([\d,]+) / \1 cases\n", result.output)  # progress: so far / total


def test_cli_check_rejects_unknown_plan():
    """A typo in --plan is an error, not an empty check that passes."""
    for option, value in (("--plan", "entreprise"), ("--zdr-status", "aproved")):
        result = CliRunner().invoke(app, ["policy", "check", option, value])
        assert result.exit_code == 1
