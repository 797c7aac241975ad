"""Console sessions and sign-in attempts in the database; organizations' comparable name.

- `console_sessions`: one row per signed-in console session, keyed by the SHA-256 of the token the
  browser holds. Signing out, a password change or disabling the user deletes the rows, and every
  worker (and every restart) sees that at once.
- `login_attempts`: sign-in attempts that have not succeeded, hashed account and address only;
  the sign-in rate limit counts these, so it is shared by workers and survives restarts.
- `organizations.name_key`: the name as compared (NFKC, case-folded, NFKC again), with a unique
  index. Existing rows are backfilled here; when two existing names collide under the new rule,
  the older organization keeps the plain key and each later one gets `key + U+001F + id` (a value no
  new name can take, as names may not contain control characters): nothing is renamed, and the
  later ones remain reachable by id.

Identical on both backends except the id column of `login_attempts` (an identity column on
PostgreSQL, SQLite's rowid alias on SQLite, as in 0001).

Revision ID: 0003_console_sessions
Revises: 0002_upstream_resources
Create Date: 2026-11-26
"""

from __future__ import annotations

import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0003_console_sessions"
down_revision = "0002_upstream_resources"
branch_labels = None
depends_on = None


def _name_key(name: str) -> str:
    """As `zdr.control.org_names.name_key` on the day of this migration (kept here, frozen)."""
    return unicodedata.normalize(
        "NFKC", unicodedata.normalize("NFKC", name.strip()).casefold())


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.String(length=36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"],
                                name=op.f("fk_console_sessions_user_id_users")),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_console_sessions")),
    )
    op.create_index(op.f("ix_console_sessions_user_id"), "console_sessions", ["user_id"])
    op.create_index(op.f("ix_console_sessions_expires_at"), "console_sessions", ["expires_at"])

    op.create_table(
        "login_attempts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  *([sa.Identity()] if postgres else []), autoincrement=True, nullable=False),
        sa.Column("account_hash", sa.String(length=64), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_attempts")),
    )
    op.create_index(op.f("ix_login_attempts_at"), "login_attempts", ["at"])
    op.create_index("ix_login_attempts_account", "login_attempts", ["account_hash", "at"])
    op.create_index("ix_login_attempts_address", "login_attempts", ["address_hash", "at"])

    op.add_column("organizations", sa.Column("name_key", sa.String(length=700), nullable=True))
    organizations = sa.table("organizations", sa.column("id", sa.String),
                             sa.column("name", sa.String), sa.column("created_at"),
                             sa.column("name_key", sa.String))
    bind = op.get_bind()
    taken: set[str] = set()
    rows = bind.execute(sa.select(organizations.c.id, organizations.c.name)
                        .order_by(organizations.c.created_at, organizations.c.id)).all()
    for org_id, name in rows:
        key = _name_key(name)
        if key in taken:
            key = f"{key}\x1f{org_id}"
        taken.add(key)
        bind.execute(organizations.update().where(organizations.c.id == org_id)
                     .values(name_key=key))
    op.create_index("uq_organizations_name_key", "organizations", ["name_key"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_organizations_name_key", table_name="organizations")
    # A plain ALTER on both backends (SQLite >= 3.35): a batch copy of `organizations` would
    # have to drop a table that other tables' foreign keys point at.
    op.execute("ALTER TABLE organizations DROP COLUMN name_key")
    op.drop_table("login_attempts")
    op.drop_table("console_sessions")
