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
    # (feature, zdr, hipaa eligible, artifact days (None: until deleted or nothing kept))
    ("prompt_caching", "yes", True, None),            # messages line of the table
    ("memory", "yes", True, None),
    ("inference_geo", "yes", True, None),
    ("web_search", "yes", False, None),                # the BAA does not cover web search
    ("web_search_dynamic_filtering", "no", False, 30),
    ("web_fetch", "yes", False, None),
    ("tool_search", "yes", False, None),
    ("context_editing", "yes", False, None),
    ("compaction", "yes", False, None),
    ("structured_outputs", "qualified", True, 1),      # schema only, <= 24 h
    ("code_execution", "no", False, 30),               # container data <= 30 days
    ("batches", "no", False, 29),
    ("files", "no", False, None),                      # until deleted
    ("agent_skills", "no", False, 30),
    ("mcp_connector", "no", False, 30),
]


@pytest.mark.parametrize(("feature", "zdr", "hipaa", "days"), DESIGN_TABLE)
def test_design_feature_table(feature, zdr, hipaa, days):
    """Each line of docs/DESIGN.md §2's feature table is encoded as written."""
    spec = default_catalog().features[feature]
    assert (spec.zdr, spec.hipaa_eligible, spec.artifact_days) == (zdr, hipaa, days)
    if feature == "files":
        assert spec.artifact_until_deleted


@pytest.mark.parametrize(("model", "model_class"), [
    ("claude-mythos-5", "covered"),           # Mythos 5, designated 2026-06-09
    ("claude-mythos-preview", "covered"),     # the earlier preview, same class
    ("claude-mythos-5-1", "covered"),         # a later point release
    ("claude-fable-5", "covered"),            # Fable 5
    ("claude-sonnet-4-5", "standard"),
    ("claude-mythical", "standard"),          # not the prefix
    (None, "standard"),
])
def test_model_classes(model, model_class):
    """Covered models are every id beginning claude-mythos- or claude-fable-."""
    assert default_catalog().model_class(model) == model_class


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
