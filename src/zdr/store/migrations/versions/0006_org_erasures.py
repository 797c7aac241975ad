"""Erasure receipts survive a crash: `org_erasures` records each org erasure's content-free facts
(counts, destroyed key ids, times) in the same transactions that destroy its keys and delete its
rows; the signed receipt is issued from that record, and the record names the receipt once it is
in the attestation log (`receipt_seq`; null: still owed).

Revision ID: 0006_org_erasures
Revises: 0005_admin_token_expiry
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_org_erasures"
down_revision = "0005_admin_token_expiry"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "org_erasures",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("erased_at", TS, nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("receipt_seq", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_org_erasures"),
    )
    op.create_index("ix_org_erasures_org_id", "org_erasures", ["org_id"])


def downgrade() -> None:
    op.drop_index("ix_org_erasures_org_id", table_name="org_erasures")
    op.drop_table("org_erasures")
