"""The control commands, end to end through `zdr` (typer's CliRunner) on a real home folder."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from zdr.cli import app

runner = CliRunner()


class Zdr:
    def __init__(self, home: Path) -> None:
        self.home = home

    def __call__(self, *args: str, ok: bool | None = True, stdin: str | None = None) -> Any:
        """Run `zdr ARGS --home HOME`; `ok`: must succeed (True), must fail (False), either."""
        result = runner.invoke(app, [*args, "--home", str(self.home)], input=stdin)
        if ok is None:
            return result
        if ok:
            assert result.exit_code == 0, (args, result.output, result.stderr)
        else:
            assert result.exit_code != 0, (args, result.output)
            lines = result.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("zdr: error: "), result.stderr
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "--json").stdout)


@pytest.fixture(scope="module")
def zdr(tmp_path_factory: pytest.TempPathFactory) -> Zdr:
    """One home for the module, set up like the README does it."""
    z = Zdr(tmp_path_factory.mktemp("cli") / "home")
    first = z.json("init", "--admin-email", "admin@provider.example")
    assert first["created"] and first["admin_token"].startswith("zdra-")
    z("orgs", "create", "acme", "--plan", "api")
    z("users", "create", "owner@acme.example", "--org-role", "acme:org_owner")
    z("users", "create", "reviewer@provider.example", "--provider-role", "reviewer")
    z("users", "create", "legal@provider.example", "--provider-role", "legal")
    return z


def test_init_makes_a_private_home_and_refuses_to_run_twice(zdr: Zdr) -> None:
    key = zdr.home / "master.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (zdr.home / "config.toml").is_file() and (zdr.home / "zdr.sqlite3").is_file()
    zdr("init", ok=False)
    assert "already initialized" in zdr("init", "--if-missing").stdout


def test_the_zdr_lifecycle_from_the_command_line(zdr: Zdr) -> None:
    zdr("orgs", "request-zdr", "acme", "--reason", "signed DPA", "--as", "owner@acme.example")
    zdr("orgs", "approve-zdr", "acme", "--as", "reviewer@provider.example")
    shown = zdr.json("orgs", "show", "acme")
    assert shown["zdr_status"] == "approved" and shown["zdr_in_force"] is True
    history = zdr.json("orgs", "zdr-history", "acme")
    assert [h["status"] for h in history] == ["approved"]
    zdr("orgs", "revoke-zdr", "acme", "--as", "reviewer@provider.example")
    zdr("orgs", "request-zdr", "acme", "--as", "owner@acme.example")
    zdr("orgs", "deny-zdr", "acme", "--note", "expired contract", "--as",
        "reviewer@provider.example")
    assert zdr.json("orgs", "show", "acme")["zdr_status"] == "denied"


def test_requester_cannot_approve_from_the_command_line(zdr: Zdr) -> None:
    zdr("orgs", "create", "solo", "--plan", "api")
    zdr("orgs", "request-zdr", "solo")
    result = zdr("orgs", "approve-zdr", "solo", ok=False)
    assert "requester" in result.stderr


def test_consumer_org_is_refused_with_one_line(zdr: Zdr) -> None:
    zdr("orgs", "create", "family", "--plan", "pro")
    result = zdr("orgs", "request-zdr", "family", ok=False)
    assert "plan of this organization is pro" in result.stderr


@pytest.mark.parametrize("plan", ["free", "pro", "max", "team"])
def test_zdr_and_baa_are_refused_for_plans_other_than_api_and_enterprise(zdr: Zdr,
                                                                          plan: str) -> None:
    """Requesting ZDR or accepting a BAA for a free/pro/max/team org: one line, exit 1."""
    name = f"small-{plan}"
    zdr("orgs", "create", name, "--plan", plan)
    for args in (("orgs", "request-zdr", name),
                 ("orgs", "accept-baa", name, "--version", "2026-01")):
        result = zdr(*args, ok=False)
        assert result.exit_code == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("zdr: error: ")
        assert "api or enterprise" in lines[0] and f"organization is {plan}" in lines[0]
    shown = zdr.json("orgs", "show", name)
    assert shown["zdr_status"] == "none" and shown["hipaa"] is False


def test_enterprise_seat_keys_only_for_enterprise_orgs(zdr: Zdr) -> None:
    result = zdr("keys", "create", "--org", "acme", "--kind", "enterprise_seat", ok=False)
    assert "enterprise_seat key is available only to organizations on the enterprise plan" \
        in result.stderr
    zdr("orgs", "create", "seatco", "--plan", "enterprise")
    assert zdr.json("keys", "create", "--org", "seatco", "--kind", "enterprise_seat")["kind"] \
        == "enterprise_seat"


def test_workspaces_and_keys(zdr: Zdr) -> None:
    zdr("workspaces", "create", "acme", "covered", "--retention-override-days", "30")
    assert zdr.json("workspaces", "list", "acme")[0]["retention_override_days"] == 30
    created = zdr.json("keys", "create", "--org", "acme", "--workspace", "covered")
    listing = zdr("keys", "list", "--org", "acme", "--json").stdout
    assert created["secret"].startswith(created["prefix"]) and created["secret"] not in listing
    zdr("keys", "revoke", created["prefix"])
    assert json.loads(zdr("keys", "list", "--org", "acme", "--json").stdout)[0]["revoked_at"]
    zdr("keys", "revoke", created["prefix"], ok=False)


def test_hipaa_and_retention(zdr: Zdr) -> None:
    assert zdr.json("orgs", "accept-baa", "acme", "--version", "2026-01")["hipaa"] is True
    zdr("orgs", "create", "bigco", "--plan", "enterprise")
    zdr("orgs", "set-retention", "bigco", "--days", "90")
    assert "confirm" in zdr("orgs", "set-retention", "bigco", "--days", "30", ok=False).stderr
    zdr("orgs", "set-retention", "bigco", "--days", "30", "--confirm-shorten")
    assert zdr.json("orgs", "show", "bigco")["retention_days"] == 30


def test_holds_need_legal_or_trust_and_safety(zdr: Zdr) -> None:
    assert "permission" in zdr("holds", "place", "--org", "acme", "--reason", "x", ok=False).stderr
    hold = zdr.json("holds", "place", "--org", "acme", "--reason", "subpoena",
                    "--as", "legal@provider.example")
    assert [h["id"] for h in zdr.json("holds", "list")] == [hold["id"]]
    zdr("holds", "release", hold["id"], "--as", "legal@provider.example")
    assert zdr.json("holds", "list") == []


def test_delete_and_restore(zdr: Zdr) -> None:
    zdr("orgs", "create", "tmpco", "--plan", "api")
    assert zdr.json("orgs", "delete", "tmpco")["restorable_until"]
    assert "tmpco" not in [o["name"] for o in zdr.json("orgs", "list")]
    zdr("orgs", "restore", "tmpco")
    assert "tmpco" in [o["name"] for o in zdr.json("orgs", "list")]


def test_users_and_tokens(zdr: Zdr) -> None:
    zdr("users", "create", "ops@provider.example", "--password-stdin",
        stdin="a long enough password\n")
    token = zdr.json("tokens", "create", "--user", "ops@provider.example")
    assert token["secret"].startswith("zdra-")
    zdr("users", "create", "bad@acme.example", "--org-role", "nocolon", ok=False)


def test_every_read_has_json(zdr: Zdr) -> None:
    for args in (("orgs", "list"), ("orgs", "show", "acme"), ("orgs", "zdr-history", "acme"),
                 ("workspaces", "list", "acme"), ("keys", "list", "--org", "acme"),
                 ("holds", "list"), ("audit", "list"), ("audit", "verify"),
                 ("flagged", "list", "--org", "acme", "--as", "legal@provider.example")):
        if args[0] == "flagged":
            zdr(*args, "--json", ok=False)   # legal may not read flagged content
            continue
        zdr.json(*args)


def test_audit_verify_names_a_tampered_entry(zdr: Zdr, tmp_path: Path) -> None:
    import shutil
    import sqlite3

    assert zdr.json("audit", "verify")["ok"] is True
    copy = Zdr(tmp_path / "copy")
    shutil.copytree(zdr.home, copy.home)
    with sqlite3.connect(copy.home / "zdr.sqlite3") as raw:
        raw.execute("UPDATE audit_log SET actor = 'nobody' WHERE seq = 3")
    result = copy("audit", "verify", ok=False)
    assert "entry 3 was edited" in result.stderr


def test_a_missing_home_is_a_one_line_error(tmp_path: Path) -> None:
    result = Zdr(tmp_path / "nothing")("orgs", "list", ok=False)
    assert "zdr init" in result.stderr


# Every org-scoped command, run by the owner of another org: refused as "not found".
FOREIGN = [
    ("orgs", "show", "acme"), ("orgs", "zdr-history", "acme"),
    ("orgs", "request-zdr", "acme"), ("orgs", "approve-zdr", "acme"),
    ("orgs", "deny-zdr", "acme"), ("orgs", "revoke-zdr", "acme"),
    ("orgs", "accept-baa", "acme", "--version", "1"),
    ("orgs", "set-retention", "acme", "--days", "60"),
    ("orgs", "delete", "acme"), ("orgs", "restore", "acme"),
    ("workspaces", "create", "acme", "w"), ("workspaces", "list", "acme"),
    ("workspaces", "set-retention", "acme", "covered", "--days", "30"),
    ("keys", "create", "--org", "acme"), ("keys", "list", "--org", "acme"),
    ("holds", "place", "--org", "acme", "--reason", "x"), ("holds", "list", "--org", "acme"),
    ("flagged", "list", "--org", "acme"), ("audit", "list", "--org", "acme"),
]


@pytest.mark.parametrize("args", FOREIGN, ids=lambda a: "-".join(a[:2]))
def test_commands_never_reach_another_org(zdr: Zdr, args: tuple[str, ...]) -> None:
    zdr("orgs", "create", "globex", "--plan", "api", ok=None)          # once for the table
    zdr("users", "create", "owner@globex.example", "--org-role", "globex:org_owner", ok=None)
    result = zdr(*args, "--as", "owner@globex.example", ok=False)
    assert "not found" in result.stderr


def test_org_people_list_only_their_org_from_the_command_line(zdr: Zdr) -> None:
    zdr("users", "create", "member@acme.example", "--org-role", "acme:org_member", ok=None)
    names = [o["name"] for o in zdr.json("orgs", "list", "--as", "member@acme.example")]
    assert names == ["acme"]


def test_users_list_and_token_revoke(zdr: Zdr) -> None:
    emails = [u["email"] for u in zdr.json("users", "list")]
    assert "admin@provider.example" in emails and "owner@acme.example" in emails
    token = zdr.json("tokens", "create", "--user", "reviewer@provider.example")
    zdr("tokens", "revoke", token["prefix"], "--as", "reviewer@provider.example")
    zdr("tokens", "revoke", token["prefix"], ok=False)
    zdr("users", "list", "--as", "reviewer@provider.example", ok=False)


def test_an_org_is_named_by_name_or_by_org_id_never_either(zdr: Zdr) -> None:
    org_id = zdr.json("orgs", "show", "acme")["id"]
    assert zdr.json("orgs", "show", "--org-id", org_id)["name"] == "acme"
    assert zdr.json("orgs", "show", "--org-id", org_id.upper())["name"] == "acme"
    assert zdr.json("orgs", "show", "ACME")["id"] == org_id          # names ignore case
    assert "not found" in zdr("orgs", "show", org_id, ok=False).stderr   # NAME is a name
    assert "not found" in zdr("orgs", "show", "--org-id", "acme", ok=False).stderr
    assert "not both" in zdr("orgs", "show", "acme", "--org-id", org_id, ok=False).stderr
    assert "--org-id" in zdr("orgs", "show", ok=False).stderr
    assert zdr.json("keys", "list", "--org-id", org_id) == zdr.json("keys", "list", "--org", "acme")
    assert zdr.json("audit", "list", "--org-id", org_id, "--limit", "1")[0]["org_id"] == org_id
    assert "not found" in zdr("keys", "list", "--org", org_id, ok=False).stderr


@pytest.mark.parametrize("name, reason", [
    ("Evil\u202eCorp", "text-direction"),          # a right-to-left override
    ("two\nlines", "text-direction"),
    ("zero\u200bwidth", "text-direction"),
    ("3f1c9a52-8d6e-4f0b-9b7e-2a4c6d8e0f13", "look like an organization id"),
    ("ACME", "already exists"),                    # acme exists: names ignore case
    ("   ", "needs a name"),
])
def test_a_refused_org_name_is_a_one_line_error(zdr: Zdr, name: str, reason: str) -> None:
    result = zdr("orgs", "create", name, "--plan", "api", ok=False)
    assert reason in result.stderr
    assert name.strip() not in result.stderr or not name.strip()


def test_owners_add_members_without_learning_about_accounts(zdr: Zdr) -> None:
    answers = [zdr.json("orgs", "add-member", "acme", "--email", email, "--role", "org_member",
                        "--as", "owner@acme.example")
               for email in ("reviewer@provider.example", "nobody@nowhere.example")]
    assert [{k: v for k, v in a.items() if k != "email"} for a in answers] == [
        {"org_id": answers[0]["org_id"], "roles": ["org_member"]}] * 2
    refused = zdr("orgs", "add-member", "acme", "--email", "reviewer@provider.example",
                  "--role", "org_admin", ok=False)                  # the operator is told
    assert "provider staff" in refused.stderr
    members = [m["email"] for m in zdr.json("orgs", "members", "acme",
                                            "--as", "owner@acme.example")]
    assert "reviewer@provider.example" in members and "nobody@nowhere.example" in members
    roles = zdr.json("users", "list")
    assert [u["org_roles"] for u in roles if u["email"] == "reviewer@provider.example"] == [{}]
    mixed = zdr("users", "create", "both@provider.example", "--provider-role", "legal",
                "--org-role", "acme:org_member", ok=False)
    assert "provider staff" in mixed.stderr


def test_passwords_and_disabling_from_the_command_line(zdr: Zdr) -> None:
    zdr("users", "create", "temp@acme.example", "--org-role", "acme:org_member", ok=None)
    out = zdr("users", "set-password", "temp@acme.example", "--password-stdin",
              stdin="a long enough password\n").stdout
    assert "sessions have ended" in out and "a long enough password" not in out
    assert "at least 12" in zdr("users", "set-password", "temp@acme.example",
                                "--password-stdin", stdin="short\n", ok=False).stderr
    assert "permission" in zdr("users", "disable", "temp@acme.example",
                               "--as", "owner@acme.example", ok=False).stderr
    zdr("users", "disable", "temp@acme.example")
    assert "already disabled" in zdr("users", "disable", "temp@acme.example", ok=False).stderr
