"""`decide` as a whole: fail closed, pure, memoized without changing answers, immutable output."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from policy_world import NOW, arrangements

from zdr.catalog import default_catalog
from zdr.policy import Arrangements, OrgState, RequestFacts, decide
from zdr.policy.decide import evaluate
from zdr.policy.decision import RECORD_CLASSES


def test_unhashable_facts_fail_closed(catalog):
    """Facts that break evaluation (a mutable set, unhashable) give a refusal, not an error."""
    broken = RequestFacts("messages", {"thinking"})  # type: ignore[arg-type]
    object.__setattr__(broken, "features", ["thinking"])
    decision = decide(broken, arrangements("api", "approved"), catalog, NOW)
    assert not decision.allowed
    assert decision.status == 500
    assert decision.rules[0].id == "fail_closed.evaluation_error"
    assert not any(decision.keep[name].kept for name in RECORD_CLASSES if name != "metadata")


def test_missing_attribute_fails_closed(catalog):
    """An arrangements object missing an attribute is refused with a rule id that says so."""
    decision = decide(RequestFacts("messages"), object(), catalog, NOW)  # type: ignore[arg-type]
    assert not decision.allowed
    assert decision.rules[0].id == "fail_closed.evaluation_error"
    assert "AttributeError" in decision.rules[0].reason


def test_catalog_gap_fails_closed(catalog):
    """A catalog whose surfaces lost an entry refuses instead of guessing."""
    gap = dataclasses.replace(catalog, surfaces={k: v for k, v in catalog.surfaces.items()
                                                 if k != "messages"}, version="gap")
    decision = decide(RequestFacts("messages"), arrangements("api", "approved"), gap, NOW)
    assert not decision.allowed
    assert not decision.keep["content"].kept


def test_broken_catalog_object_keeps_nothing():
    """When even the catalog cannot be read, nothing at all is kept."""
    decision = decide(RequestFacts("messages"), arrangements(), object(), NOW)  # type: ignore[arg-type]
    assert not decision.allowed
    assert decision.catalog_version == "unavailable"
    assert not any(k.kept for k in decision.keep.values())


def test_now_only_matters_through_effective_time(catalog):
    """The same request is applied after the effective time and not before it."""
    arr = arrangements("api", "approved", effective_in_days=0)
    before = decide(RequestFacts("messages"), arr, catalog, NOW - timedelta(seconds=1))
    after = decide(RequestFacts("messages"), arr, catalog, NOW)
    assert (before.zdr, after.zdr) == ("none", "applied")


def test_memoized_answer_equals_fresh_evaluation(catalog):
    """The cache returns what the rules compute, for equal but distinct inputs."""
    arr = arrangements("enterprise", "approved", retention_days=60)
    first = decide(RequestFacts("messages", frozenset({"code_execution"})), arr, catalog, NOW)
    again = decide(RequestFacts("messages", frozenset({"code_execution"})),
                   Arrangements(OrgState("enterprise", "approved", arr.org.zdr_effective_at,
                                         retention_days=60)), catalog, NOW)
    fresh = evaluate(RequestFacts("messages", frozenset({"code_execution"})), arr, catalog, True)
    assert first.as_json() == again.as_json() == fresh.as_json()


def test_decision_is_immutable(catalog):
    """A cached decision cannot be changed by one caller for the next."""
    decision = decide(RequestFacts("messages"), arrangements("api"), catalog, NOW)
    with pytest.raises(TypeError):
        decision.keep["content"] = decision.keep["metadata"]  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.allowed = False  # type: ignore[misc]


def test_arrangements_hash_is_stable_and_equal_for_equal_values():
    """Arrangements hash once; equal values hash equal (the cache relies on it)."""
    a, b = arrangements("api", "approved"), arrangements("api", "approved")
    assert a is not b and a == b and hash(a) == hash(b)
    c = dataclasses.replace(a, key_kind="console")     # replace recomputes the cached hash
    assert c != a
    assert hash(c) == hash((c.org, c.key_kind, c.workspace))


def test_decision_json_shape(catalog):
    """The JSON the CLI prints has every key of a decision."""
    out = decide(RequestFacts("messages", frozenset({"web_search"})), arrangements("api"), catalog,
                 NOW).as_json()
    assert {"allowed", "status", "error", "surface", "features", "model_class", "zdr", "keep",
            "rules", "reasons", "catalog_version"} <= out.keys()
    assert set(out["keep"]) == set(RECORD_CLASSES)
    assert len(out["rules"]) == len(out["reasons"])
    assert out["catalog_version"] == default_catalog().version
