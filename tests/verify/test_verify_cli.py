"""`zdr verify` on the command line: exit 0 clean, 1 on a violation, 2 when it cannot look;
human text by default, JSON with --json, progress on standard error."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from store_builder import Store
from typer.testing import CliRunner

from zdr.cli import app

AT = "2026-11-25T13:00:00"
CANARY = "CANARY-cli-0b1d7e55"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["verify", *args], env={"ZDR_HOME": ""})
    return result.exit_code, result.stdout, result.stderr


def test_clean_store_exits_0_with_a_summary(store: Store) -> None:
    store.org("acme")
    store.exchange("acme")
    code, out, err = run("--home", str(store.settings.home), "--at", AT, "--canary", CANARY)
    assert code == 0, out + err
    assert "RESULT: clean" in out
    assert "[ OK ] No content kept for ZDR-scoped exchanges" in out
    assert "canaries: 1 checked" in out


def test_a_violation_exits_1_and_json_names_it(store: Store) -> None:
    store.org("acme")
    with sqlite3.connect(store.settings.sqlite_path) as conn:
        conn.execute("UPDATE organizations SET name = ?", (CANARY,))
    code, out, err = run("--home", str(store.settings.home), "--at", AT, "--canary", CANARY,
                         "--json")
    assert code == 1
    report = json.loads(out)
    assert report["ok"] is False and report["violation_count"] >= 1
    assert {v["check"] for c in report["checks"] for v in c["violations"]} == {"canaries"}
    assert CANARY not in out                 # the report names canary numbers, not canaries
    assert "zdr verify: check zdr_content" in err


def test_canaries_can_come_from_a_file(store: Store, tmp_path: Path) -> None:
    store.org("acme")
    with sqlite3.connect(store.settings.sqlite_path) as conn:
        conn.execute("UPDATE organizations SET name = ?", (CANARY,))
    listing = store.settings.home / "canaries.txt"       # inside the home: not scanned itself
    listing.write_text(f"CANARY-not-there-1\n\n{CANARY}\n", encoding="utf-8")
    code, out, _ = run("--home", str(store.settings.home), "--at", AT, "--canary-file",
                       str(listing), "--quiet")
    assert code == 1 and "canary #2 found" in out
    assert "canary #1" not in out                       # the listing itself is not a leak


def test_no_database_exits_2_without_creating_one(tmp_path: Path) -> None:
    code, _, err = run("--home", str(tmp_path / "nowhere"))
    assert code == 2 and "no database file" in err
    assert not (tmp_path / "nowhere" / "zdr.sqlite3").exists()


def test_short_canaries_exit_2(store: Store) -> None:
    code, _, err = run("--home", str(store.settings.home), "--canary", "abc")
    assert code == 2 and "at least 8 characters" in err
