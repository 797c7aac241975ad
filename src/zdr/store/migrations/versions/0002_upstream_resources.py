"""Ownership of upstream files and message batches: `upstream_resources`.

The gateway relays every org's `/v1/files` and `/v1/messages/batches` under its one provider key,
so the provider cannot tell orgs apart; this table records which org created each id, and the
gateway refuses every other org (zdr.gateway.ownership). Ids and dates only, never content.

Identical on both backends except the id column: an identity column on PostgreSQL, SQLite's rowid
alias on SQLite (as in 0001).

Revision ID: 0002_upstream_resources
Revises: 0001_initial
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_upstream_resources"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "upstream_resources",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  *([sa.Identity()] if postgres else []), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("resource_id", sa.String(length=200), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=True),
        sa.Column("exchange_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_resources")),
        sa.UniqueConstraint("kind", "resource_id",
                            name="uq_upstream_resources_kind_resource_id"),
    )
    op.create_index(op.f("ix_upstream_resources_org_id"), "upstream_resources", ["org_id"],
                    unique=False)
    op.create_index(op.f("ix_upstream_resources_expires_at"), "upstream_resources",
                    ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("upstream_resources")
