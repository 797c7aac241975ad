"""Test data for the safety tests: exchanges of a ZDR and a standard org with decisions made by the
real policy, and the labelled set. (Not in conftest.py: other folders have one of that name.)"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from zdr.catalog import default_catalog
from zdr.policy import Arrangements, OrgState, RequestFacts, decide
from zdr.ports import ExchangeMetadata

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LABELLED = Path(__file__).parent / "data" / "labelled.jsonl"
_ids = itertools.count()


def make_meta(*, zdr: bool, surface: str = "messages") -> ExchangeMetadata:
    """Metadata of one allowed exchange of a ZDR (approved) or a standard `api` org."""
    org = OrgState(plan="api", zdr_status="approved" if zdr else "none",
                   org_id="org-zdr" if zdr else "org-std")
    decision = decide(RequestFacts(surface=surface, model="claude-sonnet-4-5"),
                      Arrangements(org=org), default_catalog(), NOW)
    assert decision.allowed
    return ExchangeMetadata(
        exchange_id=f"ex-{next(_ids)}", org_id=org.org_id, workspace_id=None, key_id=None,
        started_at=NOW, decision=decision, status_code=200, outcome="ok")


def labelled_rows() -> list[dict[str, Any]]:
    return [json.loads(line) for line in LABELLED.read_text(encoding="utf-8").splitlines()]
