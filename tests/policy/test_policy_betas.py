"""Rule 5a: the anthropic-beta values that may reach the upstream, per arrangement."""

from __future__ import annotations

import pytest
from policy_world import NOW, arrangements

from zdr.policy import RequestFacts, decide
from zdr.policy.betas import filter_betas

CLI = ("claude-code-20250219", "interleaved-thinking-2025-05-14",
       "context-management-2025-06-27", "per-turn-control-2026-07-01",
       "mid-conversation-tool-changes-2026-07-01", "thinking-token-count-2026-05-13",
       "advanced-tool-use-2025-11-20", "effort-2025-11-24")
UNKNOWN = "not-yet-known-2099-01-01"

CASES = [
    # (zdr applies, hipaa, sent, kept, removed)
    # neither: everything passes, even unknown and ineligible betas
    (False, False, ("files-api-2025-04-14", UNKNOWN), ("files-api-2025-04-14", UNKNOWN), ()),
    # ZDR: the CLI's betas all pass
    (True, False, CLI, CLI, ()),
    # ZDR + HIPAA: so do they (Claude Code is BAA-covered with ZDR in force)
    (True, True, CLI, CLI, ()),
    # ZDR: stateful features' betas and unknown ones are removed, unknown named first
    (True, False, ("effort-2025-11-24", "files-api-2025-04-14", UNKNOWN),
     ("effort-2025-11-24",), (UNKNOWN, "files-api-2025-04-14")),
    # ZDR: advisor tool is ZDR-eligible (HIPAA is not)
    (True, False, ("advisor-tool-2026-03-01",), ("advisor-tool-2026-03-01",), ()),
    # HIPAA without ZDR: betas eligible only with ZDR go, as do those never BAA-covered
    (False, True, ("effort-2025-11-24", "context-management-2025-06-27",
                   "advisor-tool-2026-03-01", "web-search-2025-03-05"),
     ("effort-2025-11-24",),
     ("context-management-2025-06-27", "advisor-tool-2026-03-01", "web-search-2025-03-05")),
    # HIPAA with ZDR: "only with ZDR" betas stay, never-covered ones go
    (True, True, ("context-management-2025-06-27", "advisor-tool-2026-03-01"),
     ("context-management-2025-06-27",), ("advisor-tool-2026-03-01",)),
    # nothing sent: nothing to say
    (True, True, (), (), ()),
]


@pytest.mark.parametrize(("zdr", "hipaa", "sent", "kept", "removed"), CASES)
def test_filter_betas(catalog, zdr, hipaa, sent, kept, removed):
    got_kept, got_removed, hits = filter_betas(catalog, sent, zdr, hipaa)
    assert (got_kept, got_removed) == (kept, removed)
    if removed:
        assert [h.id for h in hits] == ["betas.removed"]
        assert all(beta in hits[0].reason for beta in removed)
    elif sent and (zdr or hipaa):
        assert [h.id for h in hits] == ["betas.eligible"]
    else:
        assert hits == ()


def test_the_decision_carries_the_filter_and_its_reason(catalog):
    facts = RequestFacts("messages", betas=("effort-2025-11-24", "files-api-2025-04-14"))
    decision = decide(facts, arrangements("api", "approved"), catalog, NOW)
    assert decision.betas_kept == ("effort-2025-11-24",)
    assert decision.betas_removed == ("files-api-2025-04-14",)
    body = decision.as_json()
    assert body["betas_removed"] == ["files-api-2025-04-14"]
    assert "betas.removed" in body["rules"]


@pytest.mark.parametrize("arr", [
    arrangements("api", "approved", override=30),      # ZDR does not apply to this workspace
    arrangements("api", "approved", key="console"),    # nor to a console key
    arrangements("team", "approved"),                  # nor to a team org
])
def test_no_filter_where_zdr_does_not_apply(catalog, arr):
    facts = RequestFacts("messages", betas=("files-api-2025-04-14", UNKNOWN))
    decision = decide(facts, arr, catalog, NOW)
    assert decision.betas_removed == () and decision.betas_kept == facts.betas


def test_a_refused_request_relays_no_beta(catalog):
    facts = RequestFacts("messages", model="claude-mythos-5", betas=("effort-2025-11-24",))
    decision = decide(facts, arrangements("api", "approved"), catalog, NOW)
    assert not decision.allowed
    assert decision.betas_kept == () and decision.betas_removed == ()
