"""The keyed audit chain against attackers: without the key, with the key, and after an upgrade.

Each test tampers with the database directly, the way someone with write access to it would.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from control_world import CHAIN_KEY, MASTER, SIGNER, World, make_plane
from sqlalchemy import Engine, select, update

from zdr.control import audit, checkpoints
from zdr.errors import StoreUnavailable
from zdr.store.tables import audit_checkpoints, audit_log


def grow(world: World, n: int, prefix: str = "ws") -> None:
    for i in range(n):
        world.plane.workspaces.create(world.operator, "acme", f"{prefix}-{i}")


def verify(world: World, expect_head: str | None = None,
           files: list[tuple[str, bytes]] | None = None) -> audit.ChainReport:
    return world.plane.audit.verify(world.operator, expect_head, files or [])


def rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(audit_log).order_by(audit_log.c.seq))]


def rewrite(engine: Engine, seq: int, link: Any, **changes: Any) -> None:
    """Change entry `seq`, then recompute its link and every later one with `link(fields)`:
    what an attacker does to make a plain hash chain verify again."""
    entries = rows(engine)
    prev = audit.GENESIS if seq == 1 else entries[seq - 2]["hash"]
    with engine.begin() as conn:
        for fields in entries[seq - 1:]:
            if fields["seq"] == seq:
                fields.update(changes)
            fields["prev_hash"] = prev
            fields["hash"] = link(fields)
            conn.execute(update(audit_log).where(audit_log.c.seq == fields["seq"]).values(
                **{k: v for k, v in fields.items() if k != "seq"}))
            prev = fields["hash"]


def approver_entry(world: World) -> int:
    """Approve acme's ZDR request; the entry number of that approval."""
    world.plane.arrangements.request_zdr(world.people["org_owner"], "acme", "contract")
    world.plane.arrangements.approve_zdr(world.people["reviewer"], "acme")
    [entry] = [e for e in world.plane.audit.list(world.operator, "acme", limit=1000)
               if e.action == "zdr.approve"]
    return entry.seq


def test_who_approved_cannot_be_changed_by_recomputing_plain_hashes(world: World) -> None:
    """The attack the plain chain allowed: change the approver, recompute every later SHA-256
    link. The keyed link of that very entry no longer matches."""
    seq = approver_entry(world)
    grow(world, 3)
    rewrite(world.engine, seq, audit.legacy_hash, actor="someone-else@example.com")
    report = verify(world)
    assert (report.ok, report.problem, report.seq) == (False, "edited", seq)
    assert f"entry {seq}" in report.message


def test_a_rewrite_with_the_master_key_is_caught_by_the_signed_checkpoints(world: World) -> None:
    """With the master key an attacker can recompute keyed links; the signed checkpoint of a
    later head no longer matches, and verify says after which entry the chain was changed."""
    seq = approver_entry(world)
    world.plane.audit.checkpoint(world.operator)       # an anchor past the approval
    grow(world, 2)
    rewrite(world.engine, seq, lambda f: audit.entry_link(CHAIN_KEY, f),
            actor="someone-else@example.com")
    report = verify(world)
    assert not report.ok and report.problem == "rewritten"
    assert "rewritten or deleted after entry" in report.message
    assert report.anchored < seq


def test_an_old_expected_head_reports_a_rewrite_not_a_deletion(world: World) -> None:
    """SECURITY.md used to call this "deleted entries": it is a rewrite, and verify says so."""
    seq = approver_entry(world)
    before = verify(world)
    with world.engine.begin() as conn:       # no stored checkpoints: only the kept head
        conn.execute(audit_checkpoints.delete())
    rewrite(world.engine, seq, lambda f: audit.entry_link(CHAIN_KEY, f), actor="x@example.com")
    report = verify(world, expect_head=f"{before.entries}:{before.head}")
    assert (report.ok, report.problem) == (False, "rewritten")
    assert "deleted entries" not in report.message
    assert f"rewritten or deleted after entry {0}" in report.message


def test_an_inserted_entry_is_named(world: World) -> None:
    grow(world, 4)
    last = rows(world.engine)[-1]
    with world.engine.begin() as conn:       # shift the newest entry up, slip one in before it
        conn.execute(update(audit_log).where(audit_log.c.seq == last["seq"])
                     .values(seq=last["seq"] + 1))
        forged = {**last, "action": "zdr.approve", "hash": "f" * 64}
        conn.execute(audit_log.insert().values(forged))
    report = verify(world)
    assert (report.ok, report.seq) == (False, last["seq"])
    assert report.problem in {"edited", "reordered"}


def test_a_forged_checkpoint_is_refused(world: World) -> None:
    grow(world, 2)
    cp, _pem = world.plane.audit.checkpoint(world.operator)
    with world.engine.begin() as conn:
        conn.execute(update(audit_checkpoints).where(audit_checkpoints.c.id == cp.id)
                     .values(head="0" * 64))
    report = verify(world)
    assert not report.ok and "signature does not match" in report.message


def test_a_kept_checkpoint_file_catches_a_truncation(world: World, tmp_path: Path) -> None:
    """Deleting the newest entries and their checkpoints leaves a valid shorter chain; a
    checkpoint file kept elsewhere still names the last entry it vouches for."""
    grow(world, 2)
    early = world.plane.audit.checkpoint(world.operator)
    grow(world, 3, "more")
    late, pem = world.plane.audit.checkpoint(world.operator)
    files = [("early.json", early[0].document(pem)), ("late.json", late.document(pem))]
    assert verify(world, files=files).ok
    with world.engine.begin() as conn:
        conn.execute(audit_log.delete().where(audit_log.c.seq > early[0].entry_seq + 1))
        conn.execute(audit_checkpoints.delete().where(audit_checkpoints.c.id > early[0].id))
    assert verify(world).ok                   # nothing inside says it was longer
    report = verify(world, files=files)
    assert not report.ok
    assert report.message.endswith(f"rewritten or deleted after entry {early[0].entry_seq}")


def test_a_checkpoint_file_with_one_changed_byte_is_refused(world: World) -> None:
    cp, pem = world.plane.audit.checkpoint(world.operator)
    data = bytearray(cp.document(pem))
    data[data.index(b'"entry":') + 8] ^= 0x01
    with pytest.raises(Exception, match="checkpoint file"):
        verify(world, files=[("bad.json", bytes(data))])


def test_checkpoints_follow_the_entry_count_and_the_clock(world: World) -> None:
    world.plane.ctx.checkpoint_policy = checkpoints.CheckpointPolicy(every_entries=5,
                                                                     every_seconds=3600)
    with world.engine.connect() as conn:
        first = checkpoints.last_checkpoint(conn)
    assert first is not None
    grow(world, 12)
    with world.engine.connect() as conn:
        made = [c for c in checkpoints.all_checkpoints(conn) if c.id > first.id]
    # the world's clock moved an hour since the last checkpoint: the first entry makes one;
    # then every fifth entry does
    assert [c.entry_seq - made[0].entry_seq for c in made] == [0, 5, 10]
    world.clock.advance(hours=2)
    grow(world, 1, "later")
    with world.engine.connect() as conn:
        assert checkpoints.last_checkpoint(conn).entry_seq == audit.head(conn)[0]


def test_without_the_master_key_no_action_is_taken(world: World) -> None:
    world.plane.ctx.chain_key = None
    before = len(rows(world.engine))
    with pytest.raises(StoreUnavailable, match="master key"):
        grow(world, 1)
    assert len(rows(world.engine)) == before


def test_a_chain_keyed_by_another_master_key_is_not_extended(world: World) -> None:
    other = make_plane(world.engine, world.clock)
    other.ctx.chain_key = audit.ChainKey.from_master_key(bytes(reversed(MASTER)))
    with pytest.raises(StoreUnavailable, match="not this master key"):
        other.workspaces.create(world.operator, "acme", "x")


# ---------------------------------------------------------------------------- the upgrade
def make_legacy(engine: Engine) -> int:
    """Turn the world's chain into one written before keying: plain SHA-256 links, no key
    id, no checkpoints."""
    with engine.begin() as conn:
        conn.execute(audit_checkpoints.delete())
    rewrite(engine, 1, audit.legacy_hash)
    with engine.begin() as conn:
        conn.execute(update(audit_log).values(key_id=None))
    return len(rows(engine))


def test_an_upgraded_chain_is_relinked_once_and_that_is_audited(world: World) -> None:
    count = make_legacy(world.engine)
    legacy = verify(world)
    assert legacy.ok and not legacy.keyed
    grow(world, 1)
    entries = rows(world.engine)
    relinked = entries[count]
    assert relinked["action"] == audit.RELINK_ACTION
    assert relinked["before"] == {"links": "sha256", "entries": count, "head": legacy.head,
                                  "check": "intact"}
    assert relinked["after"]["key_id"] == CHAIN_KEY.id
    assert all(e["key_id"] == CHAIN_KEY.id for e in entries)
    report = verify(world)
    assert report.ok and report.keyed and report.entries == len(entries)
    grow(world, 1, "again")
    assert sum(e["action"] == audit.RELINK_ACTION for e in rows(world.engine)) == 1


def test_a_broken_legacy_chain_is_relinked_with_the_break_on_record(world: World) -> None:
    make_legacy(world.engine)
    with world.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == 3).values(target="forged"))
    grow(world, 1)
    [relinked] = [e for e in rows(world.engine) if e["action"] == audit.RELINK_ACTION]
    assert "entry 3" in relinked["before"]["check"]


def test_reverting_a_keyed_chain_to_plain_links_is_not_laundered(world: World) -> None:
    """Someone who sets the newest entries back to plain links (to have them re-linked) gets
    no re-link: the chain has keyed entries and signed checkpoints."""
    grow(world, 3)
    last = rows(world.engine)[-1]["seq"]
    with world.engine.begin() as conn:
        conn.execute(update(audit_log).where(audit_log.c.seq == last).values(key_id=None))
    with pytest.raises(StoreUnavailable):
        grow(world, 1, "after")
    report = verify(world)
    assert not report.ok and report.seq == last


def test_the_relinked_chain_verifies_from_a_fresh_process(world: World) -> None:
    make_legacy(world.engine)
    world.clock.advance(minutes=1)
    world.plane.audit.prepare()
    fresh = make_plane(world.engine, world.clock)
    report = fresh.audit.verify(world.operator)
    assert report.ok and report.keyed and report.anchors >= 1
    with world.engine.connect() as conn:
        assert checkpoints.last_checkpoint(conn).entry_seq == report.entries
        assert SIGNER.key_id in checkpoints.trusted_keys(conn)
