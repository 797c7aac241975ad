"""The result of `zdr verify`: one entry per check, each with its violations, and two renderings.

A violation names where (table and row id, or file and byte offset) and what rule it breaks. It
never carries stored content: ids, names, counts and offsets only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

CheckStatus = Literal["ok", "violations", "skipped"]


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken promise. `where` is a table row (`contents#12`) or a file offset (`path@4096`)."""

    check: str
    where: str
    problem: str

    def as_json(self) -> dict[str, str]:
        return {"check": self.check, "where": self.where, "problem": self.problem}


@dataclass(slots=True)
class CheckResult:
    """What one check looked at and what it found."""

    name: str
    title: str
    examined: int = 0
    violations: list[Violation] = field(default_factory=list)
    skipped_reason: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> CheckStatus:
        if self.skipped_reason is not None:
            return "skipped"
        return "violations" if self.violations else "ok"

    def add(self, where: str, problem: str) -> None:
        self.violations.append(Violation(self.name, where, problem))

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "title": self.title,
            "status": self.status,
            "examined": self.examined,
            "violations": [v.as_json() for v in self.violations],
            "skipped_reason": self.skipped_reason,
            "notes": list(self.notes),
        }


@dataclass(slots=True)
class Report:
    database: str
    checked_at: str
    checks: list[CheckResult] = field(default_factory=list)
    canaries: int = 0
    files_scanned: int = 0
    bytes_scanned: int = 0

    @property
    def violations(self) -> list[Violation]:
        return [v for check in self.checks for v in check.violations]

    @property
    def ok(self) -> bool:
        return not self.violations

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "database": self.database,
            "checked_at": self.checked_at,
            "violation_count": len(self.violations),
            "canaries": self.canaries,
            "files_scanned": self.files_scanned,
            "bytes_scanned": self.bytes_scanned,
            "checks": [check.as_json() for check in self.checks],
        }


MAX_LISTED = 20


def render_text(report: Report) -> str:
    """The human summary: one line per check, then up to `MAX_LISTED` violations per check."""
    lines = [f"zdr verify — {report.database} at {report.checked_at}"]
    for check in report.checks:
        if check.status == "skipped":
            mark, detail = "SKIP", check.skipped_reason or ""
        elif check.status == "ok":
            mark, detail = " OK ", f"{check.examined} examined"
        else:
            count = len(check.violations)
            mark, detail = "FAIL", f"{count} violation(s), {check.examined} examined"
        lines.append(f"[{mark}] {check.title}: {detail}")
        lines.extend(f"       note: {note}" for note in check.notes)
        for violation in check.violations[:MAX_LISTED]:
            lines.append(f"       - {violation.where}: {violation.problem}")
        if len(check.violations) > MAX_LISTED:
            lines.append(f"       … and {len(check.violations) - MAX_LISTED} more (use --json)")
    if report.canaries:
        lines.append(f"canaries: {report.canaries} checked in {report.files_scanned} files "
                     f"({report.bytes_scanned} bytes)")
    count = len(report.violations)
    lines.append("RESULT: clean" if report.ok else f"RESULT: {count} violation(s)")
    return "\n".join(lines)
