"""Builders shared by the policy tests: a fixed `now` and arrangements in force at it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from zdr.policy import Arrangements, OrgState, WorkspaceState

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def arrangements(
    plan: str = "api",
    zdr: str = "none",
    *,
    hipaa: bool = False,
    key: str = "api",
    override: int | None = None,
    retention_days: int | None = None,
    effective_in_days: int = -1,
) -> Arrangements:
    """Arrangements in force at NOW; ZDR takes effect `effective_in_days` from NOW."""
    effective = NOW + timedelta(days=effective_in_days) if zdr == "approved" else None
    org = OrgState(plan, zdr, effective, hipaa, "2026-01" if hipaa else None,  # type: ignore[arg-type]
                   retention_days)
    return Arrangements(org, key, WorkspaceState(override))
