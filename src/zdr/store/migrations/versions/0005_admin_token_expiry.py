"""Admin API tokens expire: `admin_tokens.expires_at`.

Tokens made from now on carry their expiry (`zdr tokens create --expires-in`, default 90 days).
Tokens made before this revision get one too: 90 days after the upgrade, so nobody is locked out
by it; a token whose expiry is unknown (null) is refused.

Revision ID: 0005_admin_token_expiry
Revises: 0004_keyed_audit
Create Date: 2026-12-06
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0005_admin_token_expiry"
down_revision = "0004_keyed_audit"
branch_labels = None
depends_on = None

EXISTING_TOKENS_LIFETIME = timedelta(days=90)


def upgrade() -> None:
    op.add_column("admin_tokens", sa.Column("expires_at", sa.DateTime(timezone=True),
                                            nullable=True))
    tokens = sa.table("admin_tokens", sa.column("expires_at", sa.DateTime(timezone=True)))
    op.execute(tokens.update().where(tokens.c.expires_at.is_(None))
               .values(expires_at=datetime.now(UTC) + EXISTING_TOKENS_LIFETIME))


def downgrade() -> None:
    with op.batch_alter_table("admin_tokens") as batch:
        batch.drop_column("expires_at")
