"""`canonical` writes exactly what the `rfc8785` package writes, for any JSON value."""

from __future__ import annotations

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from zdr.proof.canonical import canonical

keys = st.text(max_size=6)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**60), 2**60), st.text(max_size=10),
                    st.floats(allow_nan=False, allow_infinity=False))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


@settings(max_examples=400)
@given(values)
def test_canonical_is_rfc8785(value: object) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return                      # canonical raises NotCanonical there (tested below)
    assert canonical(value) == expected


def test_keys_beyond_the_bmp_sort_as_rfc8785_says() -> None:
    """UTF-16 order: U+1F600 (a surrogate pair) sorts before U+FF5E; code point order would not."""
    value = {"\U0001f600": 1, "\uff5e": 2, "a": 3}
    assert canonical(value) == rfc8785.dumps(value)


def test_floats_and_big_integers_go_through_rfc8785() -> None:
    import pytest

    from zdr.proof.canonical import NotCanonical

    assert canonical({"x": 1e21, "y": 0.1}) == rfc8785.dumps({"x": 1e21, "y": 0.1})
    with pytest.raises(NotCanonical):
        canonical({"n": 2**60})
