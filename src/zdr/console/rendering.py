"""Jinja2 rendering for the console: autoescaped templates, timed, with the shared page context."""

from __future__ import annotations

from dataclasses import dataclass
from time import perf_counter
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.responses import HTMLResponse

from zdr.console.privacy import period, when


@dataclass(frozen=True, slots=True)
class NavItem:
    path: str
    label: str
    current: bool = False


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("zdr.console", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(when=when, period=period)
    return env


class Renderer:
    """Renders a template into a response with a `Server-Timing: render;dur=…` header."""

    def __init__(self, catalog_version: str) -> None:
        self.env = environment()
        self.catalog_version = catalog_version

    def render(self, name: str, context: dict[str, Any], status: int = 200) -> HTMLResponse:
        started = perf_counter()
        defaults: dict[str, Any] = {
            "nav": (), "viewer": None, "flash": None, "errors": {}, "csrf_token": "",
            "base": "", "catalog_version": self.catalog_version, "title": "",
        }
        body = self.env.get_template(name).render({**defaults, **context})
        elapsed = (perf_counter() - started) * 1000
        response = HTMLResponse(body, status_code=status)
        response.headers["server-timing"] = f"render;dur={elapsed:.2f}"
        return response
