"""Signed statements, inclusion proofs and erasure receipts: issued from a real store, checked
offline, and refused after any change — to any field, to any byte."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from evidence_world import START, World

from zdr.proof import envelope
from zdr.proof.canonical import canonical
from zdr.proof.envelope import InvalidDocument
from zdr.proof.verify import describe, verify_file


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World.make(tmp_path / "home")
    w.org("acme")
    w.org("zeta", zdr=True)
    for i in range(5):
        w.exchange("acme", started=START + timedelta(minutes=i), user_id=f"user-{i % 2}")
        w.exchange("zeta", zdr=True, started=START + timedelta(minutes=i), flagged=i == 3)
    w.exchange("acme", started=START + timedelta(minutes=9),
               features=frozenset({"code_execution"}))      # keeps a container artifact
    yield w
    w.close()


def pem(world: World) -> list[str]:
    return [world.plane.evidence.signer().public_pem]


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every scalar in a JSON value, with its path."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path, value


def changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if value is None:
        return "x"
    return str(value) + "x"


def with_field(document: bytes, path: tuple[Any, ...], value: Any) -> bytes:
    """The file with one field set (and the file kept in canonical form: only the signature
    can tell)."""
    data = orjson.loads(document)
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return canonical(data) + b"\n"


def assert_every_field_matters(document: bytes, trusted: list[str] | None) -> int:
    data = orjson.loads(document)
    count = 0
    for path, value in leaves(data):
        with pytest.raises(InvalidDocument):
            verify_file(with_field(document, path, changed(value)), trusted)
        count += 1
    return count


def test_a_statement_verifies_offline_and_says_what_was_kept(world: World) -> None:
    issued = world.statement("acme")
    result = verify_file(issued.document, pem(world))
    assert result.pinned and result.kind == "zdr.statement/v1"
    p = result.payload
    assert p["exchanges"]["total"] == p["metadata_tree"]["leaves"] == 6
    assert p["records"]["content"]["written"] == p["records"]["content"]["held"] >= 5
    assert p["records"]["feature_artifact"]["written"] == 1
    assert p["verify"]["ok"] and p["verify"]["ran"]
    assert p["log"] == {"seq": 1, "previous": "0" * 64}
    assert any("acme" in line for line in describe(result))


def test_every_field_and_every_byte_of_a_statement_matters(world: World) -> None:
    document = world.statement("acme").document
    assert assert_every_field_matters(document, pem(world)) > 60
    for at in range(0, len(document), 11):         # one flipped bit anywhere
        broken = bytearray(document)
        broken[at] ^= 0x01
        with pytest.raises(InvalidDocument):
            verify_file(bytes(broken), pem(world))


def test_a_statement_signed_by_another_key_is_refused_when_pinned(world: World) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from zdr.proof.signing import Signer

    payload = orjson.loads(world.statement("acme").document)["payload"]
    forged = envelope.seal(payload, Signer(Ed25519PrivateKey.generate(), "attacker"))
    assert verify_file(forged).pinned is False          # intact, but not ours
    with pytest.raises(InvalidDocument, match="not a trusted key"):
        verify_file(forged, pem(world))


def test_a_zdr_org_statement_has_no_content_records(world: World) -> None:
    p = verify_file(world.statement("zeta").document, pem(world)).payload
    assert p["records"]["content"]["written"] == 0
    assert p["records"]["flagged_content"]["written"] == 1     # the misuse exception
    assert {row["zdr"] for row in p["exchanges"]["by_surface_zdr_retention"]} == {"applied"}
    assert p["arrangements"]["zdr"]["status"] == "approved"


def test_an_inclusion_proof_verifies_and_every_field_matters(world: World) -> None:
    issued = world.statement("acme")
    with world.engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql(
            "SELECT id FROM exchanges WHERE org_id = ? ORDER BY started_at, id",
            (world.orgs["acme"],))]
    for index, exchange_id in enumerate(ids):
        proof = world.plane.evidence.prove(world.operator, issued.document, exchange_id)
        result = verify_file(proof.document, pem(world))
        assert result.kind == "zdr.inclusion-proof/v1"
        assert result.payload["leaf_index"] == index
    assert assert_every_field_matters(proof.document, pem(world)) > 40


def test_a_proof_resigned_with_a_changed_record_still_fails(world: World) -> None:
    """Even the deployment's own key cannot make a changed record prove: the signed
    statement's root binds every record."""
    issued = world.statement("acme")
    with world.engine.connect() as conn:
        exchange_id = conn.exec_driver_sql("SELECT id FROM exchanges WHERE org_id = ? LIMIT 1",
                                           (world.orgs["acme"],)).scalar_one()
    proof = world.plane.evidence.prove(world.operator, issued.document, exchange_id)
    payload = orjson.loads(proof.document)["payload"]
    signer = world.plane.evidence.signer()
    for field, value in (("record", {**payload["record"], "status_code": 500}),
                         ("leaf_index", payload["leaf_index"] + 1),
                         ("audit_path", list(reversed(payload["audit_path"])))):
        forged = envelope.seal({**payload, field: value}, signer)
        with pytest.raises(InvalidDocument):
            verify_file(forged, pem(world))


def test_a_proof_is_refused_once_a_record_of_the_period_changed(world: World) -> None:
    issued = world.statement("acme")
    with world.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE exchanges SET output_tokens = 999 WHERE org_id = ?",
                             (world.orgs["acme"],))
        exchange_id = conn.exec_driver_sql("SELECT id FROM exchanges WHERE org_id = ? LIMIT 1",
                                           (world.orgs["acme"],)).scalar_one()
    with pytest.raises(Exception, match="changed since the statement"):
        world.plane.evidence.prove(world.operator, issued.document, exchange_id)


def test_statements_are_logged_each_committing_to_the_previous(world: World) -> None:
    first = world.statement("acme")
    second = world.statement("zeta")
    assert second.payload["log"] == {"seq": 2, "previous": envelope.digest(first.payload)}
    assert world.plane.evidence.verify_log(world.operator).ok
    with world.engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM attestations WHERE seq = 1")
    report = world.plane.evidence.verify_log(world.operator)
    assert not report.ok and "document 1 is missing" in report.message


def test_an_end_user_receipt_verifies_and_every_field_matters(world: World) -> None:
    issued = world.plane.evidence.erase_end_user(world.operator, "acme", "user-1")
    result = verify_file(issued.document, pem(world))
    p = result.payload
    assert result.kind == "zdr.erasure-receipt/v1" and p["scope"]["kind"] == "end_user"
    assert p["exchanges"] == 2 and p["deleted"]["content"] == 2
    assert "user-1" not in issued.document.decode()
    assert assert_every_field_matters(issued.document, pem(world)) > 15


def test_the_org_owner_may_erase_an_end_user_but_not_in_another_org(world: World) -> None:
    from zdr.errors import NotFound

    world.plane.accounts.create_user(world.operator, "owner@acme.example",
                                     org_roles={"acme": ["org_owner"]})
    owner = world.plane.accounts.actor_for_email("owner@acme.example")
    assert world.plane.evidence.erase_end_user(owner, "acme", "user-0").payload["exchanges"] == 3
    with pytest.raises(NotFound):
        world.plane.evidence.erase_end_user(owner, "zeta", "user-0")
