"""`zdr.gateway.paths`: a request target is canonical as sent, or refused with a fixed message.

The table pins each trick an attacker can play with a path; the property pins what makes a
canonical path safe to check in one form and send in the same form: percent-decoding it cannot
move a segment boundary or make a dot segment, so the upstream reads the segments we read.
"""

from __future__ import annotations

import re
import string
from urllib.parse import unquote_to_bytes

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zdr.gateway.paths import (
    BAD_BYTE,
    BAD_ESCAPE,
    BAD_QUERY,
    DOT_SEGMENT,
    EMPTY_SEGMENT,
    ENCODED_SEPARATOR,
    ENCODED_UNRESERVED,
    NOT_ABSOLUTE,
    NOT_UTF8,
    PathRefused,
    RequestTarget,
    path_problem,
    request_target,
    resource_id,
)

UNRESERVED = string.ascii_letters + string.digits + "-._~"    # RFC 3986: never encoded
REFUSED = [
    (b"/v1/models/../files/file_a", DOT_SEGMENT),        # parent segment
    (b"/v1/files/./file_a", DOT_SEGMENT),                 # current segment
    (b"/v1/files/..", DOT_SEGMENT),                       # at the end
    (b"/..", DOT_SEGMENT),
    (b"/v1/files/%2e%2e/file_a", ENCODED_SEPARATOR),      # encoded dots, lower case
    (b"/v1/files/%2E%2E/file_a", ENCODED_SEPARATOR),      # upper case
    (b"/v1/files/.%2e/file_a", ENCODED_SEPARATOR),        # half encoded
    (b"/v1/files/file_a%2F..%2Ffile_b", ENCODED_SEPARATOR),
    (b"/v1/files/file_a%2f..%2ffile_b", ENCODED_SEPARATOR),
    (b"/v1/files/file_a%5C..%5Cfile_b", ENCODED_SEPARATOR),   # encoded backslash
    (b"/v1/files/file_a%5c", ENCODED_SEPARATOR),
    (b"/v1/files/file.a%2Etxt", ENCODED_SEPARATOR),       # any encoded dot, even harmless-looking
    (b"/v1/files/file_a\\..\\file_b", BAD_BYTE),          # raw backslash
    (b"/v1//files", EMPTY_SEGMENT),                       # doubled slash
    (b"//v1/files", EMPTY_SEGMENT),
    (b"/v1/files//file_a", EMPTY_SEGMENT),
    (b"/v1/files/file_a\x00", BAD_BYTE),                  # raw NUL
    (b"/v1/files/file_a%00", BAD_BYTE),                   # encoded NUL
    (b"/v1/files/file_a%0a", BAD_BYTE),                   # encoded newline
    (b"/v1/files/file_a%7F", BAD_BYTE),                   # encoded DEL
    (b"/v1/files/file_a\t", BAD_BYTE),                    # raw control
    (b"/v1/files/file a", BAD_BYTE),                      # raw space
    (b"/v1/files/file_\xc3\xa9", BAD_BYTE),               # raw UTF-8 (must be encoded)
    (b"/v1/files/file_\xff", BAD_BYTE),                   # raw non-UTF-8
    (b"/v1/files/file_%ff", NOT_UTF8),                    # encoded non-UTF-8
    (b"/v1/files/file_%C3", NOT_UTF8),                    # truncated UTF-8 sequence
    (b"/v1/files/file_%c0%ae", NOT_UTF8),                 # overlong encoding of "."
    (b"/v1/%6Dessages", ENCODED_UNRESERVED),              # a second spelling of a route
    (b"/v1/models/claude%2Dmythos-5", ENCODED_UNRESERVED),  # ... or of a model id
    (b"/v1/files/file_%41", ENCODED_UNRESERVED),
    (b"/v1/files/file%5fa", ENCODED_UNRESERVED),
    (b"/v1/files/file%7Ea", ENCODED_UNRESERVED),
    (b"/v1/files/file_%", BAD_ESCAPE),                    # a lone percent
    (b"/v1/files/file_%4", BAD_ESCAPE),
    (b"/v1/files/file_%zz", BAD_ESCAPE),
    (b"/v1/files/%%32%65", BAD_ESCAPE),                   # double encoding starts with "%%"
    (b"v1/files", NOT_ABSOLUTE),
    (b"*", NOT_ABSOLUTE),
    (b"", NOT_ABSOLUTE),
]

ACCEPTED = [
    b"/v1/messages",
    b"/v1/files/file_011CNha8iCJcU1wXNR6q4V8w",
    b"/v1/files/file_a/content",
    b"/v1/files/",                                        # a trailing slash: no route (404)
    b"/v1/files/file%20a",                                # an encoded space: the id "file a"
    b"/v1/files/file_%C3%A9",                             # encoded UTF-8
    b"/v1/files/file.a...b",                              # dots inside a segment are text
    b"/v1/files/...",                                     # three dots are not a dot segment
    b"/v1/files/%252e%252e",                              # an encoded "%": the id is "%2e%2e"
    b"/",
]


@pytest.mark.parametrize(("raw", "problem"), REFUSED)
def test_each_trick_is_refused_with_a_message_that_says_what_to_fix(
    raw: bytes, problem: PathRefused
) -> None:
    assert request_target({"raw_path": raw, "query_string": b""}) == problem
    assert "file" not in problem.message and "v1" not in problem.message   # echoes nothing


@pytest.mark.parametrize("raw", ACCEPTED)
def test_a_canonical_path_is_kept_exactly_as_sent(raw: bytes) -> None:
    target = request_target({"raw_path": raw, "query_string": b"beta=true&q=%2F.."})
    assert isinstance(target, RequestTarget)
    assert target.path.encode() == raw
    assert target.target == raw.decode() + "?beta=true&q=%2F.."


@pytest.mark.parametrize("query", [b"a=\x00", b"a=b c", b"a=\xff", b"a=#frag", b"a=\r\nx: y"])
def test_a_query_string_with_raw_control_space_fragment_or_non_ascii_bytes_is_refused(
    query: bytes
) -> None:
    assert request_target({"raw_path": b"/v1/messages", "query_string": query}) == BAD_QUERY


def test_a_server_without_raw_path_gets_its_decoded_path_re_encoded() -> None:
    """No `raw_path` (not uvicorn): the decoded path is checked in a form where nothing hides."""
    assert request_target({"path": "/v1/models/../files/x"}) == DOT_SEGMENT
    target = request_target({"path": "/v1/files/file é"})
    assert isinstance(target, RequestTarget) and target.path == "/v1/files/file%20%C3%A9"


def test_ids_are_decoded_as_the_upstream_decodes_them() -> None:
    assert resource_id("file%20A%3F") == "file A?"
    assert resource_id("file_%C3%A9") == "file_é"
    assert resource_id("file_plain") == "file_plain"


segment_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"),
                       max_size=8)


@given(st.lists(st.one_of(segment_text.map(lambda s: s.encode("utf-8")),
                          st.binary(max_size=6),
                          st.sampled_from([b".", b"..", b"%2e", b"%2F", b"%", b"%5c", b"\\",
                                           b"%00", b"%41", b"%20", b"%C3%A9", b"%c3"])),
                max_size=6).map(lambda parts: b"/" + b"/".join(parts)))
def test_decoding_an_accepted_path_never_moves_a_segment_boundary(raw: bytes) -> None:
    if path_problem(raw) is not None:
        return
    segments = raw[1:].split(b"/")
    decoded = unquote_to_bytes(raw)[1:].split(b"/")
    assert len(decoded) == len(segments)                  # no "/" appeared or vanished
    assert all(seg not in (b".", b"..") for seg in decoded)
    assert b"\\" not in unquote_to_bytes(raw) and b"\x00" not in unquote_to_bytes(raw)
    unquote_to_bytes(raw).decode("utf-8")                 # UTF-8 throughout
    assert raw.isascii()
    for escape in re.findall(rb"%([0-9A-Fa-f]{2})", raw):      # one spelling of each letter
        assert chr(int(escape, 16)) not in UNRESERVED

