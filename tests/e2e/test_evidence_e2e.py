"""Evidence end to end: real traffic through the gateway (the `anthropic` SDK, the SQL store,
the stand-in upstream), then signed statements, proofs and an end user's erasure.

- a statement for a ZDR org after canary traffic says no content record was written and holds
  no canary in any form (nor does a proof of one of its exchanges);
- `metadata.user_id` reaches the store only as a keyed hash; erasing one end user deletes their
  content and leaves another end user's content readable.
"""

from datetime import UTC, datetime, timedelta

import anthropic
import pytest
from sqlalchemy import select

from zdr.control.plane import build_control_plane
from zdr.control.roles import system_actor
from zdr.proof.verify import verify_file
from zdr.store.tables import contents, exchanges
from zdr.testing.canaries import files_under, new_canary, occurrences
from zdr.testing.harness import GatewayHarness
from zdr.verify.canary_forms import canary_forms

MODEL = "claude-sonnet-5"


def send(gw, key, text, user_id=None, stream=False):
    sdk = anthropic.Anthropic(api_key=key, base_url=gw.url, max_retries=0, timeout=10)
    try:
        extra = {} if user_id is None else {"metadata": {"user_id": user_id}}
        messages = [{"role": "user", "content": text}]
        if stream:
            with sdk.messages.stream(model=MODEL, max_tokens=32, messages=messages,
                                     extra_headers={"x-stub-output": text}, **extra) as s:
                s.get_final_message()
                return s.response.headers["request-id"]
        raw = sdk.messages.with_raw_response.create(
            model=MODEL, max_tokens=32, messages=messages,
            extra_headers={"x-stub-output": text}, **extra)
        return raw.headers["request-id"]
    finally:
        sdk.close()


def found(data: bytes, canary: str) -> list[str]:
    return [name for name, form in canary_forms(canary).items() if form in data]


@pytest.mark.slow
def test_a_zdr_statement_after_canary_traffic_says_no_content_and_carries_no_canary(
        stub, seeder, tmp_path):
    key, org_id = seeder.org("zdr-evidence", zdr=True)
    canary = new_canary("evidence")
    since = datetime.now(UTC) - timedelta(minutes=1)
    with GatewayHarness(seeder.settings.home, stub.url, use_store=True) as gw:
        ids = [send(gw, key, f"remember {canary}", user_id=f"user {canary}", stream=s)
               for s in (False, True, False)]
    plane = build_control_plane(seeder.settings, seeder.engine)
    operator = system_actor()
    statement = plane.evidence.issue_statement(operator, "zdr-evidence", since,
                                               datetime.now(UTC) + timedelta(seconds=1))
    pem = [plane.evidence.signer().public_pem]
    payload = verify_file(statement.document, pem).payload
    assert payload["exchanges"]["total"] == 3
    assert payload["records"]["content"] == {
        "written": 0, "purged": 0, "erased": 0, "held": 0, "under_hold": 0,
        "past_expiry_unheld": 0}
    assert {r["zdr"] for r in payload["exchanges"]["by_surface_zdr_retention"]} == {"applied"}
    assert payload["verify"]["ok"]
    assert found(statement.document, canary) == []
    proof = plane.evidence.prove(operator, statement.document, ids[1])
    assert verify_file(proof.document, pem).payload["record"]["id"] == ids[1]
    assert found(proof.document, canary) == []
    # the end user is named in the store only by its keyed hash; never the canary
    with seeder.engine.connect() as conn:
        users = set(conn.execute(select(exchanges.c.end_user)
                                 .where(exchanges.c.org_id == org_id)).scalars())
    assert len(users) == 1 and len(next(iter(users))) == 64
    assert occurrences([canary], files_under(seeder.settings.home, tmp_path)) == []


@pytest.mark.slow
def test_erasing_one_end_user_leaves_another_end_users_content(stub, seeder):
    key, org_id = seeder.org("std-evidence")
    alice = '{"device_id":"dev-a","account_uuid":"acc-alice","session_id":"s1"}'
    alice_again = '{"device_id":"dev-a","account_uuid":"acc-alice","session_id":"s2"}'
    with GatewayHarness(seeder.settings.home, stub.url, use_store=True) as gw:
        mine = [send(gw, key, "alice one", alice), send(gw, key, "alice two", alice_again,
                                                          stream=True)]
        theirs = [send(gw, key, "bob one", "bob"), send(gw, key, "bob two", "bob")]
        sink = gw.sink
        plane = build_control_plane(seeder.settings, seeder.engine)
        receipt = plane.evidence.erase_end_user(system_actor(), "std-evidence", "acc-alice")
        assert [sink.read_content(i) for i in mine] == [None, None]
        kept = [sink.read_content(i) for i in theirs]
        assert all(k is not None for k in kept)
        assert b"bob one" in kept[0].content.request
    payload = verify_file(receipt.document, [plane.evidence.signer().public_pem]).payload
    assert payload["exchanges"] == 2 and payload["deleted"]["content"] == 2
    with seeder.engine.connect() as conn:
        left = set(conn.execute(select(contents.c.exchange_id)
                                .where(contents.c.org_id == org_id)).scalars())
    assert left == set(theirs)
