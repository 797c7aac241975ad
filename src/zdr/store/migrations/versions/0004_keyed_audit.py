"""Evidence: a keyed audit chain with signed checkpoints, the signing keys' public halves, the
attestation log, deletion tallies, and the keyed hash of each exchange's end user.

- `audit_log.key_id`: the audit-chain key that linked each entry (HMAC-SHA256, a key derived
  from the master key). The migration cannot read the master key, so entries written before it
  keep their plain SHA-256 links (key_id NULL) until the first control-plane action with the
  key re-links the whole chain once, after checking it, and audits that re-link
  (`zdr.control.audit.relink`; `zdr init --if-missing` and `zdr serve` do it at start).
- `audit_checkpoints`: signed chain heads; `signing_keys`: public keys (never private ones);
- `attestations`: the log of signed statements and receipts, each committing to the previous;
- `deletion_tallies`: records deleted per org, record class, creation day and reason;
- `exchanges.end_user`: HMAC of the client's `metadata.user_id` (never the id in clear).

Identical on both backends except row-id columns (identity on PostgreSQL, rowid on SQLite).

Revision ID: 0004_keyed_audit
Revises: 0003_console_sessions
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_keyed_audit"
down_revision = "0003_console_sessions"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _row_id(postgres: bool) -> sa.Column[int]:
    return sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                     *([sa.Identity()] if postgres else []), autoincrement=True, nullable=False)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("key_id", sa.String(length=16), nullable=True))
    with op.batch_alter_table("exchanges") as batch:
        batch.add_column(sa.Column("end_user", sa.String(length=64), nullable=True))
    op.create_index("ix_exchanges_org_end_user", "exchanges", ["org_id", "end_user"])
    op.create_index("ix_exchanges_org_started", "exchanges", ["org_id", "started_at", "id"])
    op.create_table(
        "audit_checkpoints", _row_id(postgres),
        sa.Column("entry_seq", sa.Integer(), nullable=False),
        sa.Column("head", sa.String(length=64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("chain_key_id", sa.String(length=16), nullable=False),
        sa.Column("signing_key_id", sa.String(length=16), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
    )
    op.create_index("ix_audit_checkpoints_entry_seq", "audit_checkpoints", ["entry_seq"])
    op.create_table(
        "signing_keys",
        sa.Column("key_id", sa.String(length=16), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("retired_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("key_id", name="pk_signing_keys"),
    )
    op.create_table(
        "attestations",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=True),
        sa.Column("issued_at", TS, nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_attestations"),
        sa.UniqueConstraint("hash", name="uq_attestations_hash"),
    )
    op.create_index("ix_attestations_org_id", "attestations", ["org_id"])
    op.create_table(
        "deletion_tallies", _row_id(postgres),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("record_class", sa.String(length=30), nullable=False),
        sa.Column("created_day", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_deletion_tallies"),
    )
    op.create_index("ix_deletion_tallies_org_day", "deletion_tallies", ["org_id", "created_day"])


def downgrade() -> None:
    op.drop_table("deletion_tallies")
    op.drop_table("attestations")
    op.drop_table("signing_keys")
    op.drop_table("audit_checkpoints")
    op.drop_index("ix_exchanges_org_started", table_name="exchanges")
    op.drop_index("ix_exchanges_org_end_user", table_name="exchanges")
    with op.batch_alter_table("exchanges") as batch:
        batch.drop_column("end_user")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("key_id")
