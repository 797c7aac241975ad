"""Every command of DESIGN.md §3a that exists answers --help (and the policy ones exist)."""

from __future__ import annotations

import re
from pathlib import Path

import typer
from typer.testing import CliRunner

from zdr.cli import app

DESIGN = Path(__file__).parents[3] / "shared" / "DESIGN.md"


def _words(text: str) -> list[str]:
    """Leading command words of `text` ('orgs create NAME …' -> ['orgs', 'create'])."""
    words = []
    for token in text.split():
        if not re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", token):
            break
        words.append(token)
    return words


def design_commands() -> list[list[str]]:
    """Command paths from the §3a code block, e.g. ['orgs', 'request-zdr'], ['policy', 'test'].

    `a | b` and `x|y` name siblings in the same group; `·` separates whole commands.
    """
    text = DESIGN.read_text()
    block = text.split("## 3a.", 1)[1].split("```", 2)[1]
    paths: list[list[str]] = []
    for line in block.splitlines():
        for segment in line.split("#", 1)[0].split(" · "):
            group: list[str] = []
            for number, alternative in enumerate(segment.split(" | ")):
                words = _words(alternative.strip().removeprefix("zdr ").strip())
                if not words:
                    continue
                if number == 0:
                    group = words[:1]
                    rest = words[1:2]
                else:
                    rest = words[:1]
                for sub in (rest[0].split("|") if rest else [""]):
                    paths.append([*group, sub] if sub else list(group))
    return paths


def resolve(words: list[str]) -> list[str] | None:
    """The command path for `words` if it exists (as far as it goes), else None."""
    command: object = typer.main.get_command(app)
    found: list[str] = []
    for word in words:
        commands = getattr(command, "commands", None)
        if not isinstance(commands, dict) or word not in commands:
            break
        command, found = commands[word], [*found, word]
    return found if found and len(found) == len(words) else None


def test_policy_commands_exist():
    """The commands this part owns are all there."""
    for path in (["explain"], ["policy", "test"], ["policy", "check"]):
        assert resolve(path) == path


def test_every_existing_design_command_has_help():
    """`zdr <command> --help` exits 0 and prints usage, for every §3a command that exists."""
    assert DESIGN.exists(), f"the design is expected at {DESIGN}"
    commands = design_commands()
    assert ["policy", "check"] in commands and ["explain"] in [c[:1] for c in commands]
    runner = CliRunner()
    checked = set()
    for words in commands:
        path = resolve(words)
        if path is None or tuple(path) in checked:
            continue
        checked.add(tuple(path))
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output
    assert {("explain",), ("policy", "test"), ("policy", "check")} <= checked
