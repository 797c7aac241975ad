"""The canary scan finds a canary in every form and every place the system writes, once per file,
also across read-chunk boundaries; and finds nothing where there is nothing."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from store_builder import Store

from zdr.verify import scan
from zdr.verify.canary_forms import canary_forms
from zdr.verify.matcher import Matcher
from zdr.verify.report import CheckResult

CANARY = "CANARY-7f3a9c21-zdr"
UNICODE_CANARY = "CANÄRY-ü𝄞-5b2e"


def scan_one(roots: list[Path], canaries: list[str] | None = None) -> CheckResult:
    result = CheckResult("canaries", "test")
    scan.scan_files(canaries or [CANARY], roots, result, lambda _message: None)
    return result


@pytest.mark.parametrize("encoded", [
    CANARY.encode(),                                           # raw
    json.dumps({"t": CANARY}).encode(),                        # in a JSON log line
    CANARY.encode("utf-16-le"),                                # a UTF-16 file
    CANARY.encode("utf-16-be"),
    CANARY.encode().hex().encode(),                            # hex dump
    base64.b64encode(CANARY.encode()),                         # base64, at each alignment
    base64.b64encode(b"x" + CANARY.encode()),
    base64.b64encode(b"xy" + CANARY.encode()),
])
def test_every_form_of_an_ascii_canary_is_found(tmp_path: Path, encoded: bytes) -> None:
    (tmp_path / "log.txt").write_bytes(b"prefix " + encoded + b" suffix")
    result = scan_one([tmp_path])
    assert [v.where.rsplit("@")[0] for v in result.violations] == [str(tmp_path / "log.txt")]


@pytest.mark.parametrize("encoded", [
    UNICODE_CANARY.encode(),
    json.dumps(UNICODE_CANARY).encode(),                       # \\u escapes, surrogate pairs
    UNICODE_CANARY.encode("utf-16-le"),
])
def test_a_non_ascii_canary_is_found_raw_and_json_escaped(tmp_path: Path, encoded: bytes) -> None:
    (tmp_path / "trace.json").write_bytes(encoded)
    assert len(scan_one([tmp_path], [UNICODE_CANARY]).violations) == 1


@pytest.mark.parametrize("encoded", [b"q=CANARY%20x%2Fy%3Fz-1", b"q=CANARY+x%2Fy%3Fz-1"])
def test_a_url_encoded_canary_is_found(tmp_path: Path, encoded: bytes) -> None:
    (tmp_path / "access.log").write_bytes(b"GET /v1/messages?" + encoded + b" HTTP/1.1")
    assert len(scan_one([tmp_path], ["CANARY x/y?z-1"]).violations) == 1


def test_nothing_is_reported_where_there_is_no_canary(tmp_path: Path) -> None:
    (tmp_path / "log.txt").write_bytes(b"CANARY-7f3a9c21-zd" + b"\x00" * 1000)  # one char short
    result = scan_one([tmp_path])
    assert result.violations == [] and result.examined == 1


def test_a_canary_across_a_chunk_boundary_is_found_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scan, "CHUNK", 64)
    data = b"." * 60 + CANARY.encode() + b"." * 200 + CANARY.encode() + b"."
    (tmp_path / "big.log").write_bytes(data)
    result = scan_one([tmp_path])
    assert len(result.violations) == 1
    assert "2 time(s)" in result.violations[0].problem
    assert result.violations[0].where.endswith("@60")


def test_each_file_is_scanned_once_and_symlinks_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(CANARY.encode())
    home = tmp_path / "home"
    (home / "logs").mkdir(parents=True)
    (home / "logs" / "a.log").write_bytes(CANARY.encode())
    (home / "link").symlink_to(outside)
    result = scan_one([home / "logs" / "a.log", home / "logs", home])
    assert [v.where for v in result.violations] == [f"{home / 'logs' / 'a.log'}@0"]


def test_short_canaries_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 8"):
        canary_forms("short")


def test_a_canary_in_a_sqlite_metadata_column_is_found_in_the_database_files(
    store: Store,
) -> None:
    """A content leak into a metadata column shows in the raw file (or its WAL)."""
    store.org("acme")
    with sqlite3.connect(store.settings.sqlite_path) as conn:
        conn.execute("UPDATE organizations SET name = ?", (f"leak {CANARY}",))
    report = store.verify(canaries=(CANARY,))
    canaries = next(c for c in report.checks if c.name == "canaries")
    assert canaries.violations
    assert all("zdr.sqlite3" in v.where for v in canaries.violations)
    assert report.canaries == 1 and report.files_scanned >= 1


def test_a_canary_in_a_temp_file_or_log_is_found(store: Store) -> None:
    tmp = store.settings.tmp_dir
    tmp.mkdir(parents=True)
    (tmp / "spill.bin").write_bytes(b"\x00" + CANARY.encode("utf-16-le"))
    logs = store.settings.log_file.parent
    logs.mkdir(parents=True)
    store.settings.log_file.write_text(json.dumps({"event": "x", "body": CANARY}))
    report = store.verify(canaries=(CANARY, "CANARY-absent-nowhere"))
    found = sorted(v.where.rsplit("@")[0] for v in report.violations if v.check == "canaries")
    assert found == sorted([str(store.settings.log_file), str(tmp / "spill.bin")])
    assert all("canary #1" in v.problem for v in report.violations)


@settings(max_examples=60, deadline=None)
@given(
    patterns=st.lists(st.binary(min_size=3, max_size=12), min_size=1, max_size=6, unique=True),
    pieces=st.lists(st.binary(max_size=40), min_size=1, max_size=8),
    chunk=st.integers(min_value=1, max_value=50),
    data=st.data(),
)
def test_the_matcher_finds_what_a_naive_search_finds(
    patterns: list[bytes], pieces: list[bytes], chunk: int, data: st.DataObject
) -> None:
    """Every pattern occurrence a byte-by-byte search finds is reported, in any chunking."""
    inserted = [data.draw(st.sampled_from(patterns)) for _ in pieces]
    stream = b"".join(p + q for p, q in zip(pieces, inserted, strict=True))
    chunks = [stream[i:i + chunk] for i in range(0, len(stream), chunk)]
    hits = {(hit.pattern, hit.offset) for hit in Matcher(patterns).scan(chunks)}
    expected_positions = {
        start for pattern in patterns for start in range(len(stream))
        if stream.startswith(pattern, start)}
    assert {offset for _, offset in hits} == expected_positions
    for pattern, offset in hits:
        assert stream.startswith(pattern, offset)
