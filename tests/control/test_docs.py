"""Every control command and admin route is documented in docs/CONTROL_PLANE.md."""

from __future__ import annotations

from pathlib import Path

import typer

from zdr.cli import (
    audit_cmds,
    flagged_cmds,
    holds_cmds,
    keys_cmds,
    orgs_cmds,
    tokens_cmds,
    users_cmds,
    workspaces_cmds,
)
from zdr.control.api import build_admin_app

DOC = (Path(__file__).parents[2] / "docs" / "CONTROL_PLANE.md").read_text(encoding="utf-8")
GROUPS = {"orgs": orgs_cmds.orgs, "workspaces": workspaces_cmds.workspaces,
          "keys": keys_cmds.keys, "holds": holds_cmds.holds, "flagged": flagged_cmds.flagged,
          "audit": audit_cmds.audit, "users": users_cmds.users, "tokens": tokens_cmds.tokens}


def test_every_command_is_documented() -> None:
    missing = [f"zdr {group} {command.name}" for group, app in GROUPS.items()
               for command in app.registered_commands
               if f"zdr {group} {command.name}" not in DOC]
    assert "zdr init" in DOC and not missing, missing
    assert all(isinstance(app, typer.Typer) for app in GROUPS.values())


def test_every_route_is_documented() -> None:
    doc = build_admin_app(lambda: None).openapi()  # type: ignore[arg-type, return-value]
    routes = [(method.upper(), path) for path, item in doc["paths"].items() for method in item]
    missing = [f"{m} {p}" for m, p in routes if f"`{m} {p}" not in DOC]
    assert not missing, missing
