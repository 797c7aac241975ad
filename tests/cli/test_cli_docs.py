"""The command line and its documentation agree: every command that docs/DESIGN.md §3a lists
exists and answers --help, every command that exists is listed there, and every `zdr` command the
README shows is a real one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import typer
from typer.testing import CliRunner

from zdr.cli import app

ROOT = Path(__file__).parents[2]
DESIGN = ROOT / "docs" / "DESIGN.md"
README = ROOT / "README.md"
TREE = typer.main.get_command(app)


def code_lines(text: str) -> Iterator[str]:
    """The lines inside fenced code blocks of a Markdown text."""
    fenced = False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif fenced:
            yield line.strip()


def zdr_arguments(text: str) -> Iterator[list[str]]:
    """The arguments of every `zdr` (or `.venv/bin/zdr`) command line in the code blocks."""
    for line in code_lines(text):
        tokens = line.split("#", 1)[0].split()
        if tokens and tokens[0] in ("zdr", ".venv/bin/zdr"):
            yield tokens[1:]


def command_path(arguments: list[str]) -> tuple[list[str], bool]:
    """The command path the arguments name, and whether it ends at a command (not a group)."""
    command: object = TREE
    path: list[str] = []
    for word in arguments:
        children = getattr(command, "commands", None)
        if not isinstance(children, dict) or word not in children:
            break
        command, path = children[word], [*path, word]
    return path, not getattr(command, "commands", None)


def design_commands() -> list[list[str]]:
    """The argument lists of the code block of §3a, in order."""
    section = DESIGN.read_text(encoding="utf-8").split("\n## 3a.", 1)[1].split("\n## ", 1)[0]
    return list(zdr_arguments(section))


def existing_commands() -> list[list[str]]:
    """Every command path of the CLI, leaves only ('orgs create', not 'orgs')."""
    def walk(command: object, path: list[str]) -> Iterator[list[str]]:
        children = getattr(command, "commands", None)
        if isinstance(children, dict) and children:
            for name, child in children.items():
                yield from walk(child, [*path, name])
        else:
            yield path
    return list(walk(TREE, []))


def test_the_design_lists_every_command_and_only_commands_that_exist() -> None:
    resolved = [command_path(arguments) for arguments in design_commands()]
    listed = [path for path, complete in resolved if complete]
    unknown = [" ".join(arguments) for arguments, (_, complete)
               in zip(design_commands(), resolved, strict=True) if not complete]
    missing = [" ".join(path) for path in existing_commands() if path not in listed]
    assert ["policy", "check"] in listed and ["explain"] in listed
    assert not unknown, f"docs/DESIGN.md §3a lists commands that do not exist: {unknown}"
    assert not missing, f"commands missing from docs/DESIGN.md §3a: {missing}"


def test_every_listed_command_answers_help() -> None:
    runner = CliRunner()
    for arguments in design_commands():
        path, _ = command_path(arguments)
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_every_zdr_command_in_the_readme_exists() -> None:
    shown = list(zdr_arguments(README.read_text(encoding="utf-8")))
    paths = [command_path(arguments) for arguments in shown]
    assert (["orgs", "approve-zdr"], True) in paths  # the first-run lifecycle is there
    unknown = [" ".join(arguments) for arguments, (_, complete) in zip(shown, paths, strict=True)
               if not complete and arguments[:1] != ["--help"]]
    assert not unknown, f"README.md shows commands that do not exist: {unknown}"
