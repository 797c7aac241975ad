"""Rule 6: the retention plan per record class, as parameter tables."""

from __future__ import annotations

import pytest
from policy_world import NOW, arrangements

from zdr.policy import RequestFacts, decide

PERIOD_CASES = [
    # (arrangements, model, expected content days, rule ids that explain it)
    # the default commercial period
    (arrangements("api"), "claude-sonnet-4-5", 30, ["retention.default_period"]),
    # an enterprise custom period
    (arrangements("enterprise", retention_days=60), "claude-sonnet-4-5", 60,
     ["retention.custom_period"]),
    # a custom period below the minimum is raised to it
    (arrangements("enterprise", retention_days=3), "claude-sonnet-4-5", 30,
     ["retention.custom_period"]),
    # a custom period beyond max_days is capped
    (arrangements("enterprise", retention_days=99999), "claude-sonnet-4-5", 3650,
     ["retention.custom_period"]),
    # a workspace override raises a standard org's period, never lowers it
    (arrangements("api", override=90), "claude-sonnet-4-5", 90, ["retention.workspace_override"]),
    (arrangements("enterprise", retention_days=120, override=30), "claude-sonnet-4-5", 120,
     ["retention.workspace_override"]),
    # in a ZDR org the override is the workspace's period
    (arrangements("api", "approved", override=45), "claude-sonnet-4-5", 45,
     ["scope.workspace_override", "retention.workspace_override"]),
    # a covered model with a 1-day override is kept the covered minimum
    (arrangements("api", "approved", override=1), "claude-mythos-5", 30,
     ["retention.workspace_override"]),
]


@pytest.mark.parametrize(("arr", "model", "days", "rules"), PERIOD_CASES)
def test_content_period(catalog, arr, model, days, rules):
    """Outside ZDR, content is kept for the org's period, clamped to the catalog's bounds."""
    decision = decide(RequestFacts("messages", model=model), arr, catalog, NOW)
    assert decision.zdr == "none"
    assert decision.keep["content"].kept
    assert decision.keep["content"].days == days
    assert set(rules) <= {h.id for h in decision.rules}
    assert decision.retention_label == f"{days}d"


PLAN_CASES = [
    # (surface, features, zdr status, zdr, content, feature_artifact (kept, days))
    # ZDR + eligible: nothing of the content anywhere
    ("messages", (), "approved", "applied", False, (False, None)),
    # ZDR + qualified structured outputs: only the schema, 24 h
    ("messages", ("structured_outputs",), "approved", "applied", False, (True, 1)),
    # ZDR + code execution: partial, container 30 days
    ("messages", ("code_execution",), "approved", "partial", False, (True, 30)),
    # ZDR + files and code execution: the longest (until deleted) wins
    ("messages", ("files", "code_execution"), "approved", "partial", False, (True, None)),
    # batches surface under ZDR: partial, 29 days
    ("batches", ("batches",), "approved", "partial", False, (True, 29)),
    # no ZDR + batches: the upstream keeps the batch 29 days; the gateway keeps no copy
    ("batches", ("batches",), "none", "none", False, (True, 29)),
    # models listing: no content at all
    ("models", (), "approved", "none", False, (False, None)),
    ("models", (), "none", "none", False, (False, None)),
]


@pytest.mark.parametrize(("surface", "features", "status", "zdr", "content", "artifact"),
                         PLAN_CASES)
def test_retention_plan(catalog, surface, features, status, zdr, content, artifact):
    """Each record class is kept or not as rule 6 says, and the ZDR state names it."""
    decision = decide(RequestFacts(surface, frozenset(features), "claude-sonnet-4-5"),
                      arrangements("api", status), catalog, NOW)
    assert decision.allowed
    assert decision.zdr == zdr
    assert decision.keep["content"].kept is content
    assert (decision.keep["feature_artifact"].kept, decision.keep["feature_artifact"].days) == \
        artifact
    assert decision.keep["metadata"].kept
    carries = surface != "models"
    assert decision.keep["classifier_result"].kept is carries
    # the misuse exception: flagged content is kept 2 years under every arrangement
    assert decision.keep["flagged_content"].kept is carries
    if carries:
        assert decision.keep["classifier_result"].days == 2555
        assert decision.keep["flagged_content"].days == 730


def test_partial_names_what_zdr_did_not_cover(catalog):
    """zdr=partial says which feature, and for how long, kept data outside ZDR."""
    decision = decide(RequestFacts("messages", frozenset({"mcp_connector", "thinking"})),
                      arrangements("api", "approved"), catalog, NOW)
    reason = next(h.reason for h in decision.rules if h.id == "retention.zdr_partial")
    assert "mcp_connector (30 days)" in reason
    assert "thinking" not in reason
    assert [a.feature for a in decision.artifacts] == ["mcp_connector"]
    assert decision.retention_label == "partial"


def test_labels(catalog):
    """The zdr-retention header values."""
    zero = decide(RequestFacts("messages"), arrangements("api", "approved"), catalog, NOW)
    none = decide(RequestFacts("models"), arrangements("api"), catalog, NOW)
    assert (zero.retention_label, none.retention_label) == ("zero", "none")


def test_covered_model_minimum_above_commercial_minimum(catalog):
    """With a catalog whose covered-model minimum (60) exceeds the period, content is raised."""
    import dataclasses

    raised = dataclasses.replace(
        catalog, version="covered-60",
        retention=dataclasses.replace(catalog.retention, covered_model_min_days=60))
    decision = decide(RequestFacts("messages", model="claude-mythos-5"), arrangements("api"),
                      raised, NOW)
    assert decision.keep["content"].days == 60
    assert "retention.covered_model_minimum" in [h.id for h in decision.rules]
