"""Literal prefilters for regular expressions: skip a cue at once when its words are absent.

`required_literals(pattern)` walks the parsed pattern and returns sets of strings such that every
match contains one string of each set — for `\\b(?:make|build)\\b.{0,40}(?:pipe ?bomb|car bomb)`:
{"make", "build"} and {"pipe", "car bomb"}. `str.__contains__` rules those out of a text far faster
than the regular expression engine can fail to match.

It reads CPython's regular expression parser (`re._parser`); if that ever changes shape, patterns
simply get no prefilter (correct, only slower). A test checks that prefiltered and unfiltered
matching agree.
"""

from __future__ import annotations

import importlib
from typing import Any

try:
    _parser: Any = importlib.import_module("re._parser")
    _constants: Any = importlib.import_module("re._constants")
except ImportError:  # pragma: no cover - another Python implementation
    _parser = _constants = None

Needles = frozenset[str]


def required_literals(pattern: str, min_length: int = 2) -> tuple[Needles, ...]:
    """Sets of strings such that every match of `pattern` (no flags) contains one string of each
    set; sets with a string shorter than `min_length` are left out (too common to help)."""
    if _parser is None:
        return ()
    try:
        found = _requirements(list(_parser.parse(pattern)))
    except Exception:  # noqa: BLE001 - any surprise means "no prefilter", never a wrong one
        return ()
    useful = {needles for needles in found if min(map(len, needles)) >= min_length}
    return tuple(sorted(useful, key=_selectivity, reverse=True))


def _requirements(items: list[tuple[Any, Any]]) -> list[Needles]:
    """Everything a sequence needs: its literal runs and what its required parts need."""
    found: list[Needles] = []
    run: list[str] = []
    for op, value in items:
        if op is _constants.LITERAL:
            run.append(chr(value))
            continue
        if run:
            found.append(frozenset({"".join(run)}))
            run = []
        if op is _constants.SUBPATTERN:
            found.extend(_requirements(list(value[-1])))
        elif op in (_constants.MAX_REPEAT, _constants.MIN_REPEAT) and value[0] >= 1:
            found.extend(_requirements(list(value[2])))
        elif op is _constants.BRANCH:
            union: set[str] = set()
            for branch in value[1]:
                best = _best(_requirements(list(branch)))
                if best is None:
                    break
                union |= best
            else:
                found.append(frozenset(union))
    if run:
        found.append(frozenset({"".join(run)}))
    return found


def _best(requirements: list[Needles]) -> Needles | None:
    return max(requirements, key=_selectivity, default=None)


def _selectivity(needles: Needles) -> tuple[int, int]:
    return (min(map(len, needles)), -len(needles))
