"""`zdr.gateway.pseudonyms`: what a ZDR org's exchange record names of the client's own choosing
(a model id the catalog does not know, unknown parameter keys, tool types, context-edit types) is
a keyed hash everywhere the recorded decision carries it; everything else is left as it is."""

import re
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from zdr.catalog import default_catalog
from zdr.gateway.pseudonyms import Pseudonyms
from zdr.policy import Arrangements, OrgState, decide, extract_facts
from zdr.policy.facts import WorkspaceState

CATALOG = default_catalog()
NOW = datetime(2026, 11, 1, tzinfo=UTC)
KEY = bytes(range(32))
ORG, OTHER_ORG = "org_pseudonyms_a", "org_pseudonyms_b"
PSEUDONYM = re.compile(r"h:[0-9a-f]{16}:\d+")

ZDR = Arrangements(OrgState("api", "approved", NOW - timedelta(days=1)))
ZDR_LATER = Arrangements(OrgState("api", "approved", NOW + timedelta(days=1)))   # not yet
ZDR_OVERRIDE = Arrangements(OrgState("api", "approved", NOW - timedelta(days=1)),
                            workspace=WorkspaceState(retention_override_days=30))
STANDARD = Arrangements(OrgState("api"))


def decision_for(body, arrangements=ZDR, path="/v1/messages"):
    facts = extract_facts("POST", path, {}, body, arrangements.key_kind, CATALOG)
    return decide(facts, arrangements, CATALOG, NOW)


def text_of(decision):
    return orjson.dumps(decision.as_json()).decode()


def message(**extra):
    return {"model": "claude-sonnet-5", "max_tokens": 8,
            "messages": [{"role": "user", "content": "hi"}], **extra}


def test_a_pseudonym_is_keyed_stable_and_tells_the_length():
    names = Pseudonyms(KEY, CATALOG)
    assert PSEUDONYM.fullmatch(names.of("secret_project_x", ORG))
    assert names.of("secret_project_x", ORG) == names.of("secret_project_x", ORG)
    assert names.of("secret_project_x", ORG).endswith(":16")
    assert names.of("secret_project_x", ORG) != names.of("secret_project_y", ORG)
    other_key = Pseudonyms(bytes(32), CATALOG)
    assert other_key.of("secret_project_x", ORG) != names.of("secret_project_x", ORG)


CANARY = "zdrcanary_9c1f04"


@pytest.mark.parametrize(("body", "path"), [
    # an unknown model id: allowed, and named by pseudonym
    (message(model=CANARY), "/v1/messages"),
    (message(model=f"claude-sonnet-{CANARY}"), "/v1/messages"),      # almost a known id
    (message(model=CANARY.upper()), "/v1/messages"),
    # unknown parameter, tool type and context edit: refused, each named in reasons and error
    (message(**{CANARY: 1}), "/v1/messages"),
    (message(tools=[{"type": CANARY, "name": "x"}]), "/v1/messages"),
    (message(context_management={"edits": [{"type": CANARY}]}), "/v1/messages"),
    (message(**{CANARY: 1}, model=CANARY), "/v1/messages/count_tokens"),
    # inside a batch (a surface ZDR does not cover: the org's ZDR still counts)
    ({"requests": [{"custom_id": "a", "params": message(**{CANARY: 1})}]},
     "/v1/messages/batches"),
    ({"requests": [{"custom_id": "a", "params": message(model=CANARY)}]},
     "/v1/messages/batches"),
], ids=["model", "model-lookalike", "model-upper", "param", "tool", "context-edit",
        "count-tokens", "batch-param", "batch-model"])
def test_client_chosen_names_of_a_zdr_org_are_recorded_by_pseudonym(body, path):
    decision = decision_for(body, path=path)
    assert CANARY in text_of(decision).lower()             # the live decision names it
    recorded = Pseudonyms(KEY, CATALOG).recorded(decision, ZDR, NOW, ORG)
    assert CANARY not in text_of(recorded).lower()
    assert PSEUDONYM.search(text_of(recorded))
    # nothing but the names changed
    same = ("allowed", "status", "surface", "model_class", "zdr", "retention", "keep",
            "artifacts", "rules", "catalog_version")
    assert {k: recorded.as_json()[k] for k in same} == {k: decision.as_json()[k] for k in same}
    if decision.error is not None:                      # the error names the same pseudonyms
        assert recorded.error is not None and recorded.error.type == decision.error.type
        assert all(f in recorded.error.message for f in recorded.features if ":h:" in f)


@pytest.mark.parametrize("arrangements", [ZDR, ZDR_OVERRIDE],
                         ids=["zdr", "zdr-workspace-override"])
def test_every_zdr_org_decision_is_covered(arrangements):
    decision = decision_for(message(model=CANARY), arrangements)
    recorded = Pseudonyms(KEY, CATALOG).recorded(decision, arrangements, NOW, ORG)
    assert recorded.model == Pseudonyms(KEY, CATALOG).of(CANARY, ORG)


@pytest.mark.parametrize("arrangements", [STANDARD, ZDR_LATER], ids=["standard", "zdr-not-yet"])
def test_other_orgs_are_recorded_as_decided(arrangements):
    decision = decision_for(message(model=CANARY, **{CANARY: 1}), arrangements)
    assert Pseudonyms(KEY, CATALOG).recorded(decision, arrangements, NOW, ORG) is decision


@pytest.mark.parametrize("model", ["claude-sonnet-5", "claude-sonnet-4-5-20250929",
                                   "claude-3-5-haiku-20241022", "claude-mythos-5",
                                   "CLAUDE-SONNET-5"])
def test_known_models_and_fixed_markers_stay_readable(model):
    names = Pseudonyms(KEY, CATALOG)
    decision = decision_for(message(model=model))
    assert names.recorded(decision, ZDR, NOW, ORG) is decision
    # markers the policy writes itself are not client text
    refused = decision_for(message(model=model, tools="not a list",
                                   context_management={"edits": [7]}))
    recorded = names.recorded(refused, ZDR, NOW, ORG)
    assert recorded.model == model
    assert {"param:tools", "context_edit:unreadable"} <= set(recorded.features)


def test_a_name_is_replaced_only_where_it_stands_alone():
    """A parameter called `zero` must not garble the words of a reason around it."""
    decision = decision_for(message(zero=1, tools=[{"type": "zero_day", "name": "x"}]))
    recorded = Pseudonyms(KEY, CATALOG).recorded(decision, ZDR, NOW, ORG)
    reasons = " ".join(hit.reason for hit in recorded.rules)
    assert "param:zero" not in reasons and "tool:zero_day" not in reasons
    original = " ".join(hit.reason for hit in decision.rules)
    assert re.sub(r"(param|tool):\S+?(?=[,.]\s|[,.]?$)", "X", reasons) == \
        re.sub(r"(param|tool):\S+?(?=[,.]\s|[,.]?$)", "X", original)


def test_one_recorded_decision_per_decision():
    """Decisions repeat (the policy memoizes them): their recorded form is built once, so the
    store's per-decision serialization is reused too."""
    names = Pseudonyms(KEY, CATALOG)
    decision = decision_for(message(model=CANARY))
    assert names.recorded(decision, ZDR, NOW, ORG) is names.recorded(decision, ZDR, NOW, ORG)


def test_the_gateway_records_pseudonyms_yet_answers_the_client_in_clear(gateway):
    """Over HTTP: the client's error names its own parameter; the record and the logs do not."""
    import httpx

    secret, _ = gateway.directory.create_key("pseudonym-org", zdr=True)
    headers = {"x-api-key": secret}
    refused = httpx.post(gateway.url + "/v1/messages", json=message(**{CANARY: 1}),
                         headers=headers, timeout=10)
    assert refused.status_code == 400 and f"param:{CANARY}" in refused.json()["error"]["message"]
    served = httpx.post(gateway.url + "/v1/messages", json=message(model=CANARY),
                        headers=headers, timeout=10)
    assert served.status_code == 200 and served.headers["zdr-retention"] == "zero"
    recorded = [text_of(meta.decision) for meta in gateway.sink.metadata]
    assert len(recorded) == 2 and not any(CANARY in text for text in recorded)
    assert PSEUDONYM.fullmatch(gateway.sink.metadata[-1].decision.model)
    assert CANARY not in gateway.logs.text()


def test_two_orgs_pseudonyms_of_one_name_differ():
    """Each org has its own key: the same name sent by two orgs cannot be correlated."""
    names = Pseudonyms(KEY, CATALOG)
    assert names.of(CANARY, ORG) != names.of(CANARY, OTHER_ORG)
    decision = decision_for(message(model=CANARY))       # orgs alike share one decision
    mine, theirs = (names.recorded(decision, ZDR, NOW, org) for org in (ORG, OTHER_ORG))
    assert mine.model == names.of(CANARY, ORG) and theirs.model == names.of(CANARY, OTHER_ORG)
    assert mine.model != theirs.model


def test_an_org_whose_key_cannot_be_had_gets_unlinkable_pseudonyms():
    """Destroyed (crypto-shredded) or unreachable: a stand-in key, never the name in clear."""
    def keys(org_id: str) -> bytes:
        if org_id == OTHER_ORG:
            raise RuntimeError("destroyed")
        return KEY

    names = Pseudonyms(keys, CATALOG)
    recorded = names.recorded(decision_for(message(model=CANARY)), ZDR, NOW, OTHER_ORG)
    assert PSEUDONYM.fullmatch(recorded.model) and CANARY not in text_of(recorded)
    assert recorded.model != Pseudonyms(keys, CATALOG).of(CANARY, OTHER_ORG)


def test_the_gateway_gives_two_zdr_orgs_different_pseudonyms(gateway):
    import httpx

    for org in ("pseudonym-org-a", "pseudonym-org-b"):
        secret, _ = gateway.directory.create_key(org, zdr=True)
        served = httpx.post(gateway.url + "/v1/messages", json=message(model=CANARY),
                            headers={"x-api-key": secret}, timeout=10)
        assert served.status_code == 200
    first, second = (meta.decision.model for meta in gateway.sink.metadata)
    assert PSEUDONYM.fullmatch(first) and PSEUDONYM.fullmatch(second) and first != second
