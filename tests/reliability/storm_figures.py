"""The figures of a storm: printed at the end of the run and written to test-artifacts/ (the
numbers of a recorded run are copied into RELIABILITY.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def report(figures: dict[str, Any]) -> str:
    width = max(len(name) for name in figures)
    lines = ["", "== reliability storm: figures =="]
    for name, value in figures.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        lines.append(f"  {name:<{width}}  {value}")
    return "\n".join(lines)


def publish(figures: dict[str, Any], name: str = "reliability-figures.json") -> None:
    print(report(figures))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / name).write_text(
        json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")
