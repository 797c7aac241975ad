"""The signing key's life (made on first use, 0600, rotated with the old key still listed and
served at /.well-known/zdr/attestation-key) and an org's erasure receipt, which a process dying
between the erasure and the receipt does not lose."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from evidence_world import START, World
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.testclient import TestClient
from typer.testing import CliRunner

from zdr.cli import app
from zdr.control.evidence import Evidence
from zdr.proof import ledger, receipts
from zdr.proof.canonical import instant
from zdr.proof.envelope import InvalidDocument
from zdr.proof.receipts import RECEIPT_TYPE
from zdr.proof.signing import SigningKeyError, load_signer, rotate_key_file
from zdr.proof.verify import verify_file
from zdr.settings import load_settings
from zdr.store import tallies
from zdr.store.deletion import erase_org
from zdr.store.sweeper import PurgeSweeper
from zdr.store.tables import org_data_keys
from zdr.wiring import attestation_key_route, erasure_receipts


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


class Died(BaseException):
    """The process ends here (a BaseException: no `except Exception` on the way catches it)."""


def _erased_world(world: World) -> None:
    for i in range(3):
        world.exchange("acme", started=START + timedelta(seconds=i), flagged=i == 0)
    world.plane.orgs.delete(world.operator, "acme")
    world.now += timedelta(days=8)


def _sweeper(world: World) -> PurgeSweeper:
    return PurgeSweeper(world.engine, 1, keyring=world.keyring, clock=lambda: world.now,
                        on_erased=erasure_receipts(world.plane))


def _receipts(world: World) -> list[ledger.LogEntry]:
    return [e for e in world.plane.evidence.log(world.operator) if e.kind == "receipt"]


def _verified_by_the_cli(world: World, entry: ledger.LogEntry, tmp_path: Path) -> dict[str, Any]:
    document, key = tmp_path / "receipt.json", tmp_path / "attestation-key.pem"
    document.write_text(entry.document)
    key.write_text(world.plane.evidence.signer().public_pem)
    done = CliRunner().invoke(app, ["attest", "verify", str(document), "--public-key", str(key),
                                    "--json"])
    assert done.exit_code == 0, done.output
    verified = json.loads(done.output)
    assert verified["valid"] and verified["pinned"] and verified["kind"] == RECEIPT_TYPE
    return dict(verified["payload"])


def test_a_receipt_lost_to_a_crash_after_the_erasure_is_issued_by_the_next_sweep(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _erased_world(world)

    def die(*_: object) -> None:
        raise Died

    with monkeypatch.context() as patched:      # dies once the erasure has committed
        patched.setattr(receipts, "org_receipt", die)
        with pytest.raises(Died):
            _sweeper(world).run_once()
    with world.engine.connect() as conn:
        keys = conn.execute(select(org_data_keys)).one()
    assert keys.wrapped_key is None and keys.wrapped_safety_key is None    # erased, no receipt
    assert _receipts(world) == []
    world.now += timedelta(minutes=1)
    _sweeper(world).run_once()                  # the next run (another process) issues it
    _sweeper(world).run_once()                  # and only once
    [entry] = _receipts(world)
    payload = _verified_by_the_cli(world, entry, tmp_path)
    assert payload["scope"] == {"kind": "organization"} and payload["org"]["name"] == "acme"
    assert payload["deleted"]["content"] == 3 and payload["deleted"]["metadata"] == 3
    assert sorted(k.split(":")[0] for k in payload["keys_destroyed"]) == ["content", "flagged"]
    assert payload["content_key_destroyed"] and payload["safety_key_destroyed"]
    assert payload["erased_at"] == instant(world.now - timedelta(minutes=1))


def test_an_erasure_that_died_part_way_is_finished_and_receipted_once(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _erased_world(world)
    real_add = tallies.add
    calls = []

    def add_then_die(*args: Any) -> int:
        calls.append(args)
        if len(calls) == 2:         # contents deleted and committed; flagged content not yet
            raise Died
        return real_add(*args)

    with monkeypatch.context() as patched:
        patched.setattr(tallies, "add", add_then_die)
        with pytest.raises(Died):
            _sweeper(world).run_once()
    assert _receipts(world) == []
    world.now += timedelta(minutes=1)
    _sweeper(world).run_once()
    [entry] = _receipts(world)
    payload = _verified_by_the_cli(world, entry, tmp_path)
    assert payload["deleted"]["content"] == 3 and payload["deleted"]["flagged_content"] == 1
    assert payload["deleted"]["metadata"] == 3
    assert sorted(k.split(":")[0] for k in payload["keys_destroyed"]) == ["content", "flagged"]


def test_issuing_an_erasure_receipt_twice_gives_the_logged_one(world: World) -> None:
    _erased_world(world)
    report = erase_org(world.engine, world.keyring, world.orgs["acme"], world.now)
    first = world.plane.evidence.org_erasure_receipt(report)
    again = world.plane.evidence.org_erasure_receipt(report)
    assert again.document == first.document and again.entry == first.entry
    assert world.plane.evidence.owed_erasure_receipts() == []
    assert len(_receipts(world)) == 1


def test_two_processes_issuing_one_receipt_log_it_once(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    _erased_world(world)
    report = erase_org(world.engine, world.keyring, world.orgs["acme"], world.now)
    first = world.plane.evidence.org_erasure_receipt(report)
    looked_up = []
    real_lookup = Evidence._issued_receipt

    def not_yet_seen(self: Evidence, record_id: str) -> Any:
        looked_up.append(record_id)     # the other process checked before the first committed
        return None if len(looked_up) == 1 else real_lookup(self, record_id)

    monkeypatch.setattr(Evidence, "_issued_receipt", not_yet_seen)
    again = world.plane.evidence.org_erasure_receipt(report)
    assert again.entry == first.entry and len(looked_up) == 2
    assert len(_receipts(world)) == 1
    assert world.plane.evidence.verify_log(world.operator).ok
