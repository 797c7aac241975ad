"""Merkle trees as RFC 9162 (Certificate Transparency 2.0, §2.1) defines them, with SHA-256.

    leaf hash  = SHA-256(0x00 || data)
    node hash  = SHA-256(0x01 || left || right)
    MTH(D[n])  = node(MTH(D[0:k]), MTH(D[k:n])), k the largest power of two below n
    MTH({})    = SHA-256("")

`RootBuilder` takes leaf hashes one at a time and keeps only one hash per level (O(log n)
memory), so a statement over millions of records never holds them. An inclusion proof
(`audit_path`) is the list of sibling subtree hashes from the leaf up; each is the root of a
contiguous range of leaves (`path_ranges`), so a second streaming pass computes them all with
one `RootBuilder` at a time (`PathBuilder`). `verify_inclusion` is RFC 9162 §2.1.3.2.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class RootBuilder:
    """The Merkle tree hash of leaf hashes added in order, in O(log n) memory."""

    __slots__ = ("_stack", "size")

    def __init__(self) -> None:
        self._stack: list[tuple[int, bytes]] = []     # (leaves under it, hash): sizes halve
        self.size = 0

    def add(self, leaf: bytes) -> None:
        """Add one *leaf hash* (not the data)."""
        stack = self._stack
        size, node = 1, leaf
        while stack and stack[-1][0] == size:
            left = stack.pop()[1]
            node = hashlib.sha256(b"\x01" + left + node).digest()
            size *= 2
        stack.append((size, node))
        self.size += 1

    def root(self) -> bytes:
        if not self._stack:
            return EMPTY_ROOT
        node = self._stack[-1][1]
        for _size, left in reversed(self._stack[:-1]):
            node = node_hash(left, node)
        return node


def root_of(leaves: Iterable[bytes]) -> bytes:
    builder = RootBuilder()
    for leaf in leaves:
        builder.add(leaf)
    return builder.root()


def path_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges [start, end) whose roots make up the audit path of leaf `index` in a tree
    of `size` leaves, from the leaf upwards."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


class PathBuilder:
    """Computes the audit path of leaf `index` while every leaf hash streams past once."""

    def __init__(self, index: int, size: int) -> None:
        self.index, self.size = index, size
        self._ranges = path_ranges(index, size)
        self._order = sorted(range(len(self._ranges)), key=lambda i: self._ranges[i][0])
        self._hashes: list[bytes | None] = [None] * len(self._ranges)
        self._next = 0          # position in _order of the range being built
        self._builder: RootBuilder | None = None
        self._position = 0
        self.leaf: bytes | None = None

    def add(self, leaf: bytes) -> None:
        position = self._position
        self._position += 1
        if position == self.index:
            self.leaf = leaf
            return
        slot = self._order[self._next]
        start, end = self._ranges[slot]
        if position == start:
            self._builder = RootBuilder()
        assert self._builder is not None
        self._builder.add(leaf)
        if position == end - 1:
            self._hashes[slot] = self._builder.root()
            self._builder = None
            self._next += 1

    def path(self) -> list[bytes]:
        if self._position != self.size or self.leaf is None:
            raise ValueError(f"saw {self._position} leaves, expected {self.size}")
        return [h for h in self._hashes if h is not None]


def audit_path(leaves: list[bytes], index: int) -> list[bytes]:
    """The audit path of leaf `index` over a list of leaf hashes (tests and small trees)."""
    builder = PathBuilder(index, len(leaves))
    for leaf in leaves:
        builder.add(leaf)
    return builder.path()


def verify_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """Does `path` prove that leaf hash `leaf` is leaf `index` of the tree of `size` leaves
    whose root is `root`? (RFC 9162 §2.1.3.2)"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
