"""RFC 9162 Merkle trees: the streaming root and the streamed audit path agree with the RFC's
recursive definitions, every path verifies, and any changed leaf, index or path fails."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from zdr.proof import merkle


def reference_root(data: list[bytes]) -> bytes:
    """MTH as RFC 9162 §2.1.1 writes it."""
    if not data:
        return hashlib.sha256(b"").digest()
    if len(data) == 1:
        return hashlib.sha256(b"\x00" + data[0]).digest()
    k = 1
    while k * 2 < len(data):
        k *= 2
    return hashlib.sha256(b"\x01" + reference_root(data[:k]) + reference_root(data[k:])).digest()


def reference_path(m: int, data: list[bytes]) -> list[bytes]:
    """PATH(m, D[n]) as RFC 9162 §2.1.3.1 writes it."""
    if len(data) <= 1:
        return []
    k = 1
    while k * 2 < len(data):
        k *= 2
    if m < k:
        return [*reference_path(m, data[:k]), reference_root(data[k:])]
    return [*reference_path(m - k, data[k:]), reference_root(data[:k])]


records = st.lists(st.binary(max_size=8), min_size=1, max_size=70, unique=True)  # ids differ


def test_known_values() -> None:
    """The RFC's leaf and node prefixes: one leaf, two leaves, the empty tree."""
    assert merkle.root_of([]) == hashlib.sha256(b"").digest()
    a, b = merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")
    assert a == hashlib.sha256(b"\x00a").digest()
    assert merkle.root_of([a, b]) == hashlib.sha256(b"\x01" + a + b).digest()


@given(records)
def test_the_streaming_root_is_the_rfc_root(data: list[bytes]) -> None:
    assert merkle.root_of(merkle.leaf_hash(d) for d in data) == reference_root(data)


@given(records, st.data())
def test_every_leaf_has_a_valid_path(data: list[bytes], draw: st.DataObject) -> None:
    """Any subset of records yields valid inclusion proofs (the streamed path is the RFC's)."""
    leaves = [merkle.leaf_hash(d) for d in data]
    root = merkle.root_of(leaves)
    chosen = draw.draw(st.sets(st.integers(0, len(data) - 1), min_size=1))
    for index in chosen:
        path = merkle.audit_path(leaves, index)
        assert path == reference_path(index, data)
        assert merkle.verify_inclusion(leaves[index], index, len(data), path, root)


@given(records, st.data())
def test_a_changed_record_index_or_path_fails(data: list[bytes], draw: st.DataObject) -> None:
    leaves = [merkle.leaf_hash(d) for d in data]
    root = merkle.root_of(leaves)
    index = draw.draw(st.integers(0, len(data) - 1))
    path = merkle.audit_path(leaves, index)
    changed = merkle.leaf_hash(data[index] + b"!")
    assert not merkle.verify_inclusion(changed, index, len(data), path, root)
    # (the tree size is not checked here: a proof takes it from the signed statement)
    other = draw.draw(st.integers(0, len(data) - 1))
    if leaves[other] != leaves[index]:
        assert not merkle.verify_inclusion(leaves[other], index, len(data), path, root)
    if len(data) > 1:
        assert not merkle.verify_inclusion(leaves[index], (index + 1) % len(data), len(data),
                                           path, root)
        bad = list(path)
        at = draw.draw(st.integers(0, len(bad) - 1))
        bad[at] = bytes([bad[at][0] ^ 1]) + bad[at][1:]
        assert not merkle.verify_inclusion(leaves[index], index, len(data), bad, root)
        assert not merkle.verify_inclusion(leaves[index], index, len(data), path[:-1], root)
