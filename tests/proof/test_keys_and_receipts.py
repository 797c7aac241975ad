"""The signing key's life (made on first use, 0600, rotated with the old key still listed and
served at /.well-known/zdr/attestation-key) and an org's erasure receipt."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from evidence_world import START, World
from starlette.applications import Starlette
from starlette.testclient import TestClient

from zdr.proof.envelope import InvalidDocument
from zdr.proof.signing import SigningKeyError, load_signer, rotate_key_file
from zdr.proof.verify import verify_file
from zdr.settings import load_settings
from zdr.store.deletion import erase_org
from zdr.wiring import attestation_key_route


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World.make(tmp_path / "home")
    w.org("acme")
    yield w
    w.close()


def test_the_key_file_is_private_and_made_once(tmp_path: Path) -> None:
    settings = load_settings(env={}, home=tmp_path)
    first = load_signer(settings)
    assert stat.S_IMODE(settings.signing_key_path.stat().st_mode) == 0o600
    assert load_signer(settings).key_id == first.key_id
    settings.signing_key_path.chmod(0o644)
    with pytest.raises(SigningKeyError, match="chmod 600"):
        load_signer(settings)


def test_the_environment_key_wins_and_cannot_be_rotated_in_place(tmp_path: Path) -> None:
    from zdr.proof.signing import new_key_text

    settings = load_settings(env={"ZDR_SIGNING_KEY": new_key_text()}, home=tmp_path)
    assert load_signer(settings).from_environment
    assert not settings.signing_key_path.exists()
    with pytest.raises(SigningKeyError, match="ZDR_SIGNING_KEY"):
        rotate_key_file(settings)


def test_rotation_keeps_old_statements_verifiable(world: World) -> None:
    old_statement = world.statement("acme")
    old, new = rotate_key_file(world.settings)
    world.plane.evidence.adopt_key(world.operator, new)
    new_statement = world.statement("acme")
    listed = world.plane.evidence.public_keys()
    assert [k.key_id for k in listed] == [old.key_id, new.key_id]
    assert listed[0].retired_at is not None and listed[1].retired_at is None
    pems = [k.pem for k in listed]
    assert verify_file(old_statement.document, pems).key_id == old.key_id
    assert verify_file(new_statement.document, pems).key_id == new.key_id
    with pytest.raises(InvalidDocument):
        verify_file(old_statement.document, [new.public_pem])
    assert world.plane.audit.verify(world.operator).ok      # checkpoints under both keys


def test_the_well_known_route_lists_every_key(world: World) -> None:
    _old, new = rotate_key_file(world.settings)
    world.plane.evidence.adopt_key(world.operator, new)
    app = Starlette(routes=[attestation_key_route(world.plane)])
    with TestClient(app) as client:
        response = client.get("/.well-known/zdr/attestation-key")
    assert response.status_code == 200
    keys = response.json()
    assert len(keys) == 2 and set(keys[0]) == {"key_id", "pem", "created_at", "retired_at"}
    in_use = [k["key_id"] for k in keys if k["retired_at"] is None]
    assert in_use == [new.key_id] and "PRIVATE" not in response.text


def test_an_org_erasure_issues_a_receipt_naming_the_destroyed_keys(world: World) -> None:
    for i in range(3):
        world.exchange("acme", started=START + timedelta(seconds=i), flagged=i == 0)
    world.plane.orgs.delete(world.operator, "acme")
    world.now += timedelta(days=8)
    report = erase_org(world.engine, world.keyring, world.orgs["acme"], world.now)
    issued = world.plane.evidence.org_erasure_receipt(report)
    payload = verify_file(issued.document, [world.plane.evidence.signer().public_pem]).payload
    assert payload["scope"] == {"kind": "organization"}
    assert payload["deleted"]["content"] == 3 and payload["deleted"]["metadata"] == 3
    assert sorted(k.split(":")[0] for k in payload["keys_destroyed"]) == ["content", "flagged"]
    assert {k["record_class"] for k in payload["kept"]} >= {"classifier_result", "audit"}
    # the erasure's deletions are counted: a statement over the period says so
    with world.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT record_class, reason, sum(count) FROM deletion_tallies "
            "GROUP BY record_class, reason ORDER BY record_class").all()
    assert [tuple(r) for r in rows] == [("content", "erasure", 3),
                                        ("flagged_content", "erasure", 1)]
