"""Holds: placed with reason, who and when; released once; listed while active."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from store_data import NOW, make_org

from zdr.errors import Conflict, InvalidRequest, NotFound
from zdr.store.holds import active_holds, get_hold, place_hold, release_hold


def test_place_list_release(engine: Engine) -> None:
    org = make_org(engine)
    with engine.begin() as conn:
        a = place_hold(conn, kind="legal", org_id=org, reason="case 12", placed_by="u1", now=NOW)
        b = place_hold(conn, kind="safety", org_id=org, workspace_id="w1", reason="inv",
                       placed_by="u2", now=NOW)
        c = place_hold(conn, kind="legal", org_id=org, exchange_id="ex1", reason="subpoena",
                       placed_by="u1", now=NOW)
    assert (a.scope, b.scope, c.scope) == ("org", "workspace", "exchange")
    with engine.begin() as conn:
        assert [h.id for h in active_holds(conn, org)] == [a.id, b.id, c.id]
        released = release_hold(conn, b.id, "u3", NOW + timedelta(hours=1))
    assert released.released_by == "u3" and released.released_at == NOW + timedelta(hours=1)
    assert not released.active
    with engine.begin() as conn:
        assert [h.id for h in active_holds(conn)] == [a.id, c.id]
        assert get_hold(conn, a.id).placed_at == NOW and get_hold(conn, a.id).reason == "case 12"


@pytest.mark.parametrize(
    ("kind", "reason", "error"),
    [
        ("vacation", "x", InvalidRequest),   # unknown kind
        ("legal", "   ", InvalidRequest),     # no reason
    ],
)
def test_bad_holds_are_refused(engine: Engine, kind: str, reason: str, error: type) -> None:
    org = make_org(engine)
    with engine.begin() as conn, pytest.raises(error):
        place_hold(conn, kind=kind, org_id=org, reason=reason, placed_by="u", now=NOW)


def test_release_twice_or_unknown_is_refused(engine: Engine) -> None:
    org = make_org(engine)
    with engine.begin() as conn:
        hold = place_hold(conn, kind="legal", org_id=org, reason="r", placed_by="u", now=NOW)
        release_hold(conn, hold.id, "u", NOW)
        with pytest.raises(Conflict):
            release_hold(conn, hold.id, "u", NOW)
        with pytest.raises(NotFound):
            release_hold(conn, "nope", "u", NOW)
