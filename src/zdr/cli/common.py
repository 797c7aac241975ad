"""What every command shares: the home option, JSON output and one-line errors."""

from __future__ import annotations

import sys
from typing import Any, NoReturn

import orjson
import typer

HOME_HELP = (
    "The zdr home folder (config, master key, SQLite store). Default: $ZDR_HOME or ./zdr-home."
)
JSON_HELP = "Print JSON for machines instead of text."


def fail(message: str, code: int = 1) -> NoReturn:
    """Exit with a one-line reason on standard error."""
    typer.echo(f"zdr: error: {message}", err=True)
    raise typer.Exit(code)


def print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode() + "\n")
