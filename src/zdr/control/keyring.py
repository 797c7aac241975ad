"""The control plane's use of the store's key ring: a new organization gets its own data key."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Connection

if TYPE_CHECKING:
    from zdr.control.context import ControlContext


def create_org_key(ctx: ControlContext, conn: Connection, org_id: str) -> None:
    """Create the org's data key in the caller's transaction (no-op without a key ring)."""
    if ctx.keyring is not None:
        ctx.keyring.create_org_key(conn, org_id)
