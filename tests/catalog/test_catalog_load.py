"""The catalog loader: the shipped file is complete; a bad file fails naming the key and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from zdr.catalog import CatalogError, default_catalog, load_catalog, parse_catalog
from zdr.catalog.load import REQUIRED_FEATURES, REQUIRED_SURFACES

DEFAULT = (Path(__file__).parents[2] / "src/zdr/catalog/default.toml").read_text()


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_catalog_is_complete():
    """Every surface and feature the gateway detects is classified, each with a source."""
    catalog = default_catalog()
    assert set(REQUIRED_SURFACES) <= set(catalog.surfaces)
    assert set(REQUIRED_FEATURES) <= set(catalog.features)
    assert all(spec.source.strip() for spec in catalog.features.values())
    assert all(spec.source.strip() for spec in catalog.surfaces.values())
    assert all(p.source.strip() for p in catalog.models)
    assert catalog.retention.flagged_content_days == 730
    assert catalog.retention.classifier_result_days == 2555


DESIGN_TABLE = [
    # (feature, zdr, HIPAA: True, False or "with ZDR", artifact days (None: until deleted or
    # nothing kept))
    ("prompt_caching", "yes", True, None),            # messages line of the table
    ("memory", "yes", True, None),
    ("inference_geo", "yes", True, None),
    ("web_search", "yes", False, None),                # the BAA does not cover web search
    ("web_search_dynamic_filtering", "no", False, 30),
    # BAA-covered only with ZDR in force ("not available for HIPAA-regulated organizations
    # without Zero Data Retention"; the Claude Code CLI sends context_management every time)
    ("web_fetch", "yes", "with ZDR", None),
    ("tool_search", "yes", "with ZDR", None),
    ("context_editing", "yes", "with ZDR", None),
    ("compaction", "yes", "with ZDR", None),
    ("structured_outputs", "qualified", True, 1),      # schema only, <= 24 h
    ("code_execution", "no", False, 30),               # container data <= 30 days
    ("batches", "no", False, 29),
    ("files", "no", False, None),                      # until deleted
    ("agent_skills", "no", False, 30),
    ("mcp_connector", "no", False, 30),
    # a /feedback or /bug transcript is kept 5 years (Claude Code's data-usage page)
    ("claude_code_feedback", "no", False, 1825),
]


@pytest.mark.parametrize(("feature", "zdr", "hipaa", "days"), DESIGN_TABLE)
def test_design_feature_table(feature, zdr, hipaa, days):
    """Each line of docs/DESIGN.md §2's feature table is encoded as written."""
    spec = default_catalog().features[feature]
    encoded = "with ZDR" if spec.hipaa_requires_zdr else spec.hipaa_eligible
    assert (spec.zdr, encoded, spec.artifact_days) == (zdr, hipaa, days)
    if feature == "files":
        assert spec.artifact_until_deleted


def test_claude_code_is_baa_covered_only_with_zdr():
    """Both Claude Code surfaces: HIPAA only with ZDR in force, never for covered models."""
    for surface in ("claude_code_api", "claude_code_enterprise"):
        spec = default_catalog().surfaces[surface]
        assert spec.hipaa_eligible and spec.hipaa_requires_zdr and not spec.hipaa_covered_models


def test_only_api_and_enterprise_can_hold_zdr_and_seats_are_enterprise():
    catalog = default_catalog()
    assert catalog.zdr_plans == {"api", "enterprise"}
    assert catalog.key_kind_allowed("enterprise_seat", "enterprise")
    assert not catalog.key_kind_allowed("enterprise_seat", "api")
    assert catalog.key_kind_allowed("api", "team")


# Captured on the wire (value and client), from @anthropic-ai/claude-code 2.1.332 (`claude -p`)
# and the official SDKs: none may be unknown, and none of the CLI's is removed under ZDR.
CLI_BETAS = [
    "claude-code-20250219", "interleaved-thinking-2025-05-14", "context-management-2025-06-27",
    "per-turn-control-2026-07-01", "mid-conversation-tool-changes-2026-07-01",
    "thinking-token-count-2026-05-13", "advanced-tool-use-2025-11-20", "effort-2025-11-24",
]
SDK_BETAS = [
    # sent by the SDKs themselves: count_tokens (Python), structured-output parsing (TypeScript),
    # OAuth credentials (both)
    "token-counting-2024-11-01", "structured-outputs-2025-12-15", "oauth-2025-04-20",
]


@pytest.mark.parametrize("beta", CLI_BETAS)
def test_every_cli_beta_is_zdr_eligible(beta):
    spec = default_catalog().betas[beta]
    assert spec.zdr_eligible and spec.hipaa_eligible, spec.source
    assert "docs" in spec.source or "ZDR" in spec.source


@pytest.mark.parametrize("beta", SDK_BETAS)
def test_sdk_betas_are_known(beta):
    assert beta in default_catalog().betas


def test_every_beta_has_a_source_and_a_beta_name():
    for beta in default_catalog().betas.values():
        assert beta.source.strip() and beta.id == beta.id.lower()


@pytest.mark.parametrize(("model", "model_class"), [
    ("claude-mythos-5", "covered"),           # Mythos 5, designated 2026-06-09
    ("claude-mythos-preview", "covered"),     # the earlier preview, same class
    ("claude-mythos-5-1", "covered"),         # a later point release
    ("claude-fable-5", "covered"),            # Fable 5
    ("claude-sonnet-4-5", "standard"),
    ("claude-mythical", "standard"),          # not the prefix
    ("Claude-Mythos-5", "covered"),           # ids are compared case-insensitively
    ("CLAUDE-FABLE-5-1", "covered"),
    (None, "standard"),
])
def test_model_classes(model, model_class):
    """Covered models are every id beginning claude-mythos- or claude-fable-."""
    assert default_catalog().model_class(model) == model_class


@pytest.mark.parametrize(("model", "listed"), [
    ("claude-sonnet-5", True),
    ("claude-opus-4-1", True),
    ("claude-sonnet-4-5-20250929", True),     # a dated snapshot
    ("claude-3-5-haiku-20241022", True),      # the earlier naming
    ("claude-3-7-sonnet-latest", True),
    ("claude-mythos-5", True),                # covered models are listed too
    ("claude-sonnet-5-my-project", False),    # free text after a known id
    ("claude-sonnet-4-5-2025092", False),     # not a date
    ("claude-sonnet", False),
    ("gpt-4o", False),
])
def test_standard_models_are_listed_by_narrow_patterns(model, listed):
    """A ZDR org's record names a model in clear only when a pattern lists it, so the standard
    patterns admit digits where versions and dates go, and nothing else."""
    patterns = default_catalog().models
    assert any(p.matches(model) for p in patterns) is listed
    assert all("*" not in p.pattern for p in patterns if p.model_class == "standard")


BAD = [
    # (change to the shipped text, key named in the error, line of, problem phrase)
    # not TOML: the decoder's line and column
    (lambda t: t.replace('label = "Web fetch"', 'label = "Web fetch'), None, None,
     "not valid TOML"),
    # wrong type: a string where a bool must be
    (lambda t: t.replace('[features.web_search]\nlabel = "Web search"\nzdr = "yes"\n'
                         'hipaa_eligible = false',
                         '[features.web_search]\nlabel = "Web search"\nzdr = "yes"\n'
                         'hipaa_eligible = "no"'),
     "features.web_search.hipaa_eligible", 'hipaa_eligible = "no"', "must be a bool"),
    # a bad zdr value
    (lambda t: t.replace('label = "Code execution / programmatic tool calling"\nzdr = "no"',
                         'label = "Code execution / programmatic tool calling"\nzdr = "maybe"'),
     "features.code_execution.zdr", 'zdr = "maybe"', "must be 'yes', 'qualified' or 'no'"),
    # a missing required feature
    (lambda t: t.replace("[features.mcp_connector]", "[features.mcp_connector_renamed]"),
     "features.mcp_connector", None, "is required"),
    # a typo in a key must not silently drop a limit
    (lambda t: t.replace("artifact_days = 29\nsource = \"DESIGN.md §2: batches kept",
                         "artifact_day = 29\nsource = \"DESIGN.md §2: batches kept"),
     "features.batches.artifact_day", "artifact_day = 29", "not a known catalog key"),
    # a negative period
    (lambda t: t.replace("flagged_content_days = 730", "flagged_content_days = -1"),
     "retention.flagged_content_days", "flagged_content_days = -1", "must not be negative"),
    # a period past the bound
    (lambda t: t.replace("metadata_days = 400", "metadata_days = 9999"),
     "retention.metadata_days", "metadata_days = 9999", "exceeds retention.max_days"),
    # a non-eligible feature without what it keeps
    (lambda t: t.replace('artifact = "mcp_exchange"\nartifact_days = 30\n', ""),
     "features.mcp_connector.artifact", "[features.mcp_connector]", "is required when zdr"),
    # two features claiming one tool type prefix
    (lambda t: t.replace('tool_type_prefixes = ["bash_"]', 'tool_type_prefixes = ["memory_"]'),
     "features.memory.tool_type_prefixes", None, "also claimed"),
    # a typo in a model entry's key
    (lambda t: t.replace("class = \"standard\"\npatterns = [", "class = \"standard\"\npaterns = ["),
     "models.paterns", None, "not a known catalog key"),
    # a bad model class
    (lambda t: t.replace('class = "covered"', 'class = "secret"', 1),
     "models.class", 'class = "secret"', "must be 'standard' or 'covered'"),
    # zdr key kinds outside key kinds
    (lambda t: t.replace('zdr_key_kinds = ["api", "enterprise_seat"]',
                         'zdr_key_kinds = ["api", "robot"]'),
     "zdr_key_kinds", "zdr_key_kinds = [", "subset of key_kinds"),
    # a missing error message
    (lambda t: t.replace("covered_model = \"In order", "covered_modell = \"In order"),
     "messages.covered_model", None, "is required"),
    # ZDR granted to a consumer plan
    (lambda t: t.replace('zdr_plans = ["api", "enterprise"]', 'zdr_plans = ["api", "pro"]'),
     "zdr_plans", "zdr_plans = [", "must be commercial plans"),
    # the plans ZDR can be granted to must be said, not assumed
    (lambda t: t.replace('zdr_plans = ["api", "enterprise"]\n', ""),
     "zdr_plans", None, "is required"),
    # seats limited to a key kind that does not exist
    (lambda t: t.replace('enterprise_seat = ["enterprise"]', 'robot_seat = ["enterprise"]'),
     "key_kind_plans.robot_seat", "robot_seat = [", "not one of key_kinds"),
    # "only with ZDR" on something not eligible at all
    (lambda t: t.replace('[betas."claude-code-20250219"]\nzdr_eligible = true\n'
                         'hipaa_eligible = true',
                         '[betas."claude-code-20250219"]\nzdr_eligible = true\n'
                         'hipaa_eligible = false'),
     "betas.claude-code-20250219.hipaa_requires_zdr", None, "needs hipaa_eligible = true"),
    # a beta entry that is not a beta name (it would be echoed in a header)
    (lambda t: t.replace('[betas."effort-2025-11-24"]', '[betas."Effort Now"]'),
     "betas.Effort Now", None, "is not a beta name"),
    # a beta entry without its source
    (lambda t: t.replace('[betas."effort-2025-11-24"]\nzdr_eligible = true\n'
                         'hipaa_eligible = true\nsource',
                         '[betas."effort-2025-11-24"]\nzdr_eligible = true\n'
                         'hipaa_eligible = true\nsourc'),
     "betas.effort-2025-11-24.sourc", None, "not a known catalog key"),
]


@pytest.mark.parametrize(("change", "key", "line_text", "problem"), BAD)
def test_bad_catalog_names_key_and_line(tmp_path, change, key, line_text, problem):
    """A bad catalog fails at load with the file, the line and the key in one message."""
    text = change(DEFAULT)
    assert text != DEFAULT
    path = tmp_path / "catalog.toml"
    path.write_text(text)
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert problem in message
    if key is not None:
        assert f"'{key}'" in message
    if line_text is not None:
        assert f"{path}:{line_of(text, line_text)}:" in message
    if key is None:
        assert "line" in message      # the TOML decoder's position


def test_missing_file_is_a_catalog_error(tmp_path):
    """An unreadable path is a CatalogError naming it."""
    with pytest.raises(CatalogError, match="cannot read catalog"):
        load_catalog(tmp_path / "nope.toml")


def test_parse_is_deterministic_and_frozen():
    """Two loads of the same text are equal; the objects are frozen."""
    a, b = parse_catalog(DEFAULT, "x"), parse_catalog(DEFAULT, "x")
    assert a == b
    with pytest.raises(AttributeError):
        a.version = "other"  # type: ignore[misc]
