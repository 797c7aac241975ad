# ruff: noqa: E501
"""Initial schema: every table of zdr.store.tables.

On PostgreSQL the two encrypted content tables (`contents`, `flagged_contents`) are range-partitioned
by `expires_at` (one partition per UTC day, created on demand by `zdr.store.partitions`), so purge
drops a whole expired day instead of deleting its rows. A partitioned table's keys must include the
partition key, hence `(id, expires_at)` and `(exchange_id, expires_at)` there; SQLite keeps plain
keys. Everything else is identical on both backends.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def _encrypted_table(name: str, *extra: sa.Column[Any]) -> None:
    """`contents` or `flagged_contents`: ciphertext rows with an expiry, partitioned on PostgreSQL."""
    postgres = op.get_bind().dialect.name == "postgresql"
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  *([sa.Identity()] if postgres else []), autoincrement=True, nullable=False),
        sa.Column("exchange_id", sa.String(length=40), nullable=False),
        sa.Column("org_id", sa.String(length=36), nullable=False),
        sa.Column("workspace_id", sa.String(length=36), nullable=True),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        *extra,
        sa.Column("rule_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    ]
    if postgres:
        op.create_table(
            name, *columns,
            sa.PrimaryKeyConstraint("id", "expires_at", name=f"pk_{name}"),
            sa.UniqueConstraint("exchange_id", "expires_at", name=f"uq_{name}_exchange_id"),
            postgresql_partition_by="RANGE (expires_at)",
        )
    else:
        op.create_table(
            name, *columns,
            sa.PrimaryKeyConstraint("id", name=f"pk_{name}"),
            sa.UniqueConstraint("exchange_id", name=f"uq_{name}_exchange_id"),
        )
    op.create_index(f"ix_{name}_expires_at", name, ["expires_at"], unique=False)
    op.create_index(f"ix_{name}_org_id", name, ["org_id"], unique=False)


def upgrade() -> None:
    _encrypted_table("contents")
    _encrypted_table("flagged_contents", sa.Column("categories", sa.JSON(), nullable=False))
    op.create_table('audit_log',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('role', sa.String(length=30), nullable=False),
    sa.Column('org_id', sa.String(length=36), nullable=True),
    sa.Column('action', sa.String(length=60), nullable=False),
    sa.Column('target', sa.String(length=200), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_audit_log')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_log_hash'))
    )
    op.create_table('classifier_results',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('exchange_id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.String(length=36), nullable=True),
    sa.Column('classifier', sa.String(length=80), nullable=False),
    sa.Column('classifier_version', sa.String(length=40), nullable=False),
    sa.Column('flagged', sa.Boolean(), nullable=False),
    sa.Column('scores', sa.JSON(), nullable=False),
    sa.Column('labels', sa.JSON(), nullable=False),
    sa.Column('sampled_out', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_classifier_results')),
    sa.UniqueConstraint('exchange_id', name=op.f('uq_classifier_results_exchange_id'))
    )
    op.create_index(op.f('ix_classifier_results_expires_at'), 'classifier_results', ['expires_at'], unique=False)
    op.create_index(op.f('ix_classifier_results_org_id'), 'classifier_results', ['org_id'], unique=False)
    op.create_table('exchanges',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.String(length=36), nullable=True),
    sa.Column('key_id', sa.String(length=36), nullable=True),
    sa.Column('surface', sa.String(length=40), nullable=False),
    sa.Column('model', sa.String(length=64), nullable=True),
    sa.Column('features', sa.JSON(), nullable=False),
    sa.Column('stream', sa.Boolean(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=30), nullable=False),
    sa.Column('zdr_state', sa.String(length=10), nullable=False),
    sa.Column('retention', sa.String(length=20), nullable=False),
    sa.Column('catalog_version', sa.String(length=40), nullable=False),
    sa.Column('decision', sa.JSON(), nullable=False),
    sa.Column('misuse_exception', sa.Boolean(), nullable=False),
    sa.Column('input_tokens', sa.Integer(), nullable=True),
    sa.Column('output_tokens', sa.Integer(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('ttfb_ms', sa.Integer(), nullable=True),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchanges'))
    )
    op.create_index(op.f('ix_exchanges_expires_at'), 'exchanges', ['expires_at'], unique=False)
    op.create_index(op.f('ix_exchanges_org_id'), 'exchanges', ['org_id'], unique=False)
    op.create_table('feature_artifacts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('exchange_id', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.String(length=36), nullable=True),
    sa.Column('feature', sa.String(length=60), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feature_artifacts'))
    )
    op.create_index(op.f('ix_feature_artifacts_exchange_id'), 'feature_artifacts', ['exchange_id'], unique=False)
    op.create_index(op.f('ix_feature_artifacts_expires_at'), 'feature_artifacts', ['expires_at'], unique=False)
    op.create_index(op.f('ix_feature_artifacts_org_id'), 'feature_artifacts', ['org_id'], unique=False)
    op.create_table('holds',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('scope', sa.String(length=20), nullable=False),
    sa.Column('org_id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.String(length=36), nullable=True),
    sa.Column('exchange_id', sa.String(length=40), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('placed_by', sa.String(length=36), nullable=False),
    sa.Column('placed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_by', sa.String(length=36), nullable=True),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_holds'))
    )
    op.create_index('ix_holds_active', 'holds', ['org_id', 'released_at'], unique=False)
    op.create_index(op.f('ix_holds_org_id'), 'holds', ['org_id'], unique=False)
    op.create_table('organizations',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('plan', sa.String(length=20), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('zdr_status', sa.String(length=20), nullable=False),
    sa.Column('zdr_effective_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('hipaa', sa.Boolean(), nullable=False),
    sa.Column('baa_version', sa.String(length=50), nullable=True),
    sa.Column('hipaa_accepted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('retention_days', sa.Integer(), nullable=True),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('erased_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_organizations')),
    sa.UniqueConstraint('name', name=op.f('uq_organizations_name'))
    )
    op.create_table('users',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('password_hash', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('disabled_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('email', name=op.f('uq_users_email'))
    )
    op.create_table('admin_tokens',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('prefix', sa.String(length=40), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_admin_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_admin_tokens')),
    sa.UniqueConstraint('prefix', name=op.f('uq_admin_tokens_prefix')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_admin_tokens_token_hash'))
    )
    op.create_table('memberships',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('user_id', sa.String(length=36), nullable=False),
    sa.Column('org_id', sa.String(length=36), nullable=True),
    sa.Column('role', sa.String(length=30), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_memberships_org_id_organizations')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_memberships_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_memberships')),
    sa.UniqueConstraint('user_id', 'org_id', 'role', name='uq_memberships_user_org_role')
    )
    op.create_index(op.f('ix_memberships_user_id'), 'memberships', ['user_id'], unique=False)
    op.create_table('org_data_keys',
    sa.Column('org_id', sa.String(length=36), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('destroyed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('wrapped_safety_key', sa.LargeBinary(), nullable=True),
    sa.Column('safety_destroyed_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_org_data_keys_org_id_organizations')),
    sa.PrimaryKeyConstraint('org_id', name=op.f('pk_org_data_keys'))
    )
    op.create_table('workspaces',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('org_id', sa.String(length=36), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('retention_override_days', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_workspaces_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_workspaces')),
    sa.UniqueConstraint('org_id', 'name', name='uq_workspaces_org_name')
    )
    op.create_index(op.f('ix_workspaces_org_id'), 'workspaces', ['org_id'], unique=False)
    op.create_table('zdr_requests',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('org_id', sa.String(length=36), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('requested_by', sa.String(length=36), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.String(length=36), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('effective_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_zdr_requests_org_id_organizations')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_zdr_requests'))
    )
    op.create_index(op.f('ix_zdr_requests_org_id'), 'zdr_requests', ['org_id'], unique=False)
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('org_id', sa.String(length=36), nullable=False),
    sa.Column('workspace_id', sa.String(length=36), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('prefix', sa.String(length=40), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('created_by', sa.String(length=36), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['org_id'], ['organizations.id'], name=op.f('fk_api_keys_org_id_organizations')),
    sa.ForeignKeyConstraint(['workspace_id'], ['workspaces.id'], name=op.f('fk_api_keys_workspace_id_workspaces')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash')),
    sa.UniqueConstraint('prefix', name=op.f('uq_api_keys_prefix'))
    )
    op.create_index(op.f('ix_api_keys_org_id'), 'api_keys', ['org_id'], unique=False)


def downgrade() -> None:
    for name in (
        "api_keys", "zdr_requests", "workspaces", "org_data_keys", "memberships", "admin_tokens",
        "users", "organizations", "holds", "flagged_contents", "feature_artifacts", "exchanges",
        "contents", "classifier_results", "audit_log",
    ):
        op.drop_table(name)
