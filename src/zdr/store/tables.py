"""The schema, in SQLAlchemy Core. One source for SQLite and PostgreSQL (Alembic migrates it).

Record classes (docs/DESIGN.md §1) map to tables: `exchanges` = metadata (never content or free
text), `contents` = content (encrypted), `flagged_contents` = flagged content (encrypted, trust &
safety only), `classifier_results`, `feature_artifacts`, `audit_log`.

The migrations (zdr/store/migrations) are what create the schema, not `metadata.create_all`: on
PostgreSQL they partition `contents` and `flagged_contents` by `expires_at` day, so there their
keys are `(id, expires_at)` and `(exchange_id, expires_at)`.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData(naming_convention={
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
})

TS = DateTime(timezone=True)
ROW_ID = BigInteger().with_variant(Integer, "sqlite")   # 64-bit ids; SQLite's rowid alias



def org_name_key(name: str) -> str:
    """How organization names compare: NFKC, case-folded, NFKC again (zdr.control.org_names)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name.strip()).casefold())


def _name_key_default(context: Any) -> str:
    return org_name_key(context.get_current_parameters()["name"])


organizations = Table(
    "organizations", metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(200), nullable=False, unique=True),
    # The name as compared: NFKC, case-folded (zdr.control.org_names); unique, so two orgs never
    # differ only by case or by look-alike forms. Orgs are looked up by this or by id, never either.
    Column("name_key", String(700), default=_name_key_default),
    Column("plan", String(20), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("zdr_status", String(20), nullable=False, default="none"),
    Column("zdr_effective_at", TS),
    Column("hipaa", Boolean, nullable=False, default=False),
    Column("baa_version", String(50)),
    Column("hipaa_accepted_at", TS),
    Column("retention_days", Integer),
    Column("deleted_at", TS),
    Column("erased_at", TS),
)

zdr_requests = Table(
    "zdr_requests", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id"), nullable=False, index=True),
    Column("status", String(20), nullable=False),
    Column("reason", Text),
    Column("requested_by", String(36)),
    Column("requested_at", TS, nullable=False),
    Column("decided_by", String(36)),
    Column("decided_at", TS),
    Column("note", Text),
    Column("effective_at", TS),
)

workspaces = Table(
    "workspaces", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("retention_override_days", Integer),
    Column("created_at", TS, nullable=False),
    UniqueConstraint("org_id", "name", name="uq_workspaces_org_name"),
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), ForeignKey("organizations.id"), nullable=False, index=True),
    Column("workspace_id", String(36), ForeignKey("workspaces.id"), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("prefix", String(40), nullable=False, unique=True),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("name", String(200)),
    Column("created_by", String(36)),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
)

org_data_keys = Table(
    "org_data_keys", metadata,
    Column("org_id", String(36), ForeignKey("organizations.id"), primary_key=True),
    Column("wrapped_key", LargeBinary),
    Column("created_at", TS, nullable=False),
    Column("destroyed_at", TS),
    # The trust & safety key of the org (flagged content, misuse exception): kept while held
    # flagged content outlives the org's erasure (zdr.store.crypto).
    Column("wrapped_safety_key", LargeBinary),
    Column("safety_destroyed_at", TS),
)

exchanges = Table(
    "exchanges", metadata,
    Column("id", String(40), primary_key=True),
    Column("org_id", String(36), nullable=False, index=True),
    Column("workspace_id", String(36)),
    Column("key_id", String(36)),
    Column("surface", String(40), nullable=False),
    Column("model", String(64)),
    Column("features", JSON, nullable=False),
    Column("stream", Boolean, nullable=False, default=False),
    Column("status_code", Integer, nullable=False),
    Column("outcome", String(30), nullable=False),
    Column("zdr_state", String(10), nullable=False),
    Column("retention", String(20), nullable=False),
    Column("catalog_version", String(40), nullable=False),
    Column("decision", JSON, nullable=False),
    Column("misuse_exception", Boolean, nullable=False, default=False),
    Column("input_tokens", Integer),
    Column("output_tokens", Integer),
    Column("started_at", TS, nullable=False),
    Column("duration_ms", Integer),
    Column("ttfb_ms", Integer),
    Column("expires_at", TS, nullable=False, index=True),
    # The client's `metadata.user_id`, as a keyed hash only (zdr.end_users): what an
    # end user's erasure finds. Never the identifier in clear.
    Column("end_user", String(64)),
)
Index("ix_exchanges_org_end_user", exchanges.c.org_id, exchanges.c.end_user)
Index("ix_exchanges_org_started", exchanges.c.org_id, exchanges.c.started_at, exchanges.c.id)

contents = Table(
    "contents", metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("exchange_id", String(40), nullable=False, unique=True),
    Column("org_id", String(36), nullable=False, index=True),
    Column("workspace_id", String(36)),
    Column("nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("rule_ids", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False, index=True),
)

flagged_contents = Table(
    "flagged_contents", metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("exchange_id", String(40), nullable=False, unique=True),
    Column("org_id", String(36), nullable=False, index=True),
    Column("workspace_id", String(36)),
    Column("nonce", LargeBinary, nullable=False),
    Column("ciphertext", LargeBinary, nullable=False),
    Column("categories", JSON, nullable=False),
    Column("rule_ids", JSON, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False, index=True),
)

classifier_results = Table(
    "classifier_results", metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("exchange_id", String(40), nullable=False, unique=True),
    Column("org_id", String(36), nullable=False, index=True),
    Column("workspace_id", String(36)),  # so workspace holds cover it (zdr.store.holds)
    Column("classifier", String(80), nullable=False),
    Column("classifier_version", String(40), nullable=False),
    Column("flagged", Boolean, nullable=False),
    Column("scores", JSON, nullable=False),
    Column("labels", JSON, nullable=False),
    Column("sampled_out", Boolean, nullable=False, default=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False, index=True),
)

feature_artifacts = Table(
    "feature_artifacts", metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("exchange_id", String(40), nullable=False, index=True),
    Column("org_id", String(36), nullable=False, index=True),
    Column("workspace_id", String(36)),  # so workspace holds cover it (zdr.store.holds)
    Column("feature", String(60), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, index=True),
)

holds = Table(
    "holds", metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("scope", String(20), nullable=False),
    Column("org_id", String(36), nullable=False, index=True),
    Column("workspace_id", String(36)),
    Column("exchange_id", String(40)),
    Column("reason", Text, nullable=False),
    Column("placed_by", String(36), nullable=False),
    Column("placed_at", TS, nullable=False),
    Column("released_by", String(36)),
    Column("released_at", TS),
)

audit_log = Table(
    "audit_log", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", TS, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("role", String(30), nullable=False),
    Column("org_id", String(36)),
    Column("action", String(60), nullable=False),
    Column("target", String(200)),
    Column("before", JSON),
    Column("after", JSON),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    # The audit-chain key that linked this entry (zdr.control.audit): NULL only for entries of a
    # chain not yet keyed (a store upgraded from plain SHA-256 links, before its first action).
    Column("key_id", String(16)),
)

# Signed audit heads (zdr.control.checkpoints): the chain head at entry `entry_seq`, signed with
# the deployment's Ed25519 key. Ids, hashes and signatures only.
audit_checkpoints = Table(
    "audit_checkpoints", metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("entry_seq", Integer, nullable=False, index=True),
    Column("head", String(64), nullable=False),
    Column("at", TS, nullable=False),
    Column("chain_key_id", String(16), nullable=False),
    Column("signing_key_id", String(16), nullable=False),
    Column("signature", String(100), nullable=False),
)

# Public halves of every signing key the deployment has used (the private key never is here).
signing_keys = Table(
    "signing_keys", metadata,
    Column("key_id", String(16), primary_key=True),
    Column("public_pem", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("retired_at", TS),
)

# The attestation log (zdr.proof.ledger): every signed statement and receipt, each committing
# to the previous one's hash. Content-free documents.
attestations = Table(
    "attestations", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(20), nullable=False),
    Column("org_id", String(36), index=True),
    Column("issued_at", TS, nullable=False),
    Column("document", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
)

# Records deleted, counted per org, record class and the UTC day they were created (purge,
# retention shortening, erasure): what statements report as purged and erased.
deletion_tallies = Table(
    "deletion_tallies", metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("org_id", String(36), nullable=False),
    Column("record_class", String(30), nullable=False),
    Column("created_day", String(10), nullable=False),
    Column("reason", String(20), nullable=False),
    Column("count", Integer, nullable=False),
    Column("at", TS, nullable=False),
)
Index("ix_deletion_tallies_org_day", deletion_tallies.c.org_id, deletion_tallies.c.created_day)

# One row per erasure of an org (`zdr.store.deletion`): what it did, recorded in the same
# transactions that destroy the keys and delete the rows (content-free: counts, key ids, times),
# so that its signed receipt can be issued from here even if the process dies first.
# `completed_at`: the erasure's last step committed; `receipt_seq`: its receipt's place in the
# attestation log (null: the receipt is still owed).
org_erasures = Table(
    "org_erasures", metadata,
    Column("id", String(36), primary_key=True),
    Column("org_id", String(36), nullable=False, index=True),
    Column("erased_at", TS, nullable=False),
    Column("facts", JSON, nullable=False),
    Column("completed_at", TS),
    Column("receipt_seq", Integer),
)

users = Table(
    "users", metadata,
    Column("id", String(36), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("password_hash", String(200)),
    Column("created_at", TS, nullable=False),
    Column("disabled_at", TS),
)

memberships = Table(
    "memberships", metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False, index=True),
    Column("org_id", String(36), ForeignKey("organizations.id")),
    Column("role", String(30), nullable=False),
    UniqueConstraint("user_id", "org_id", "role", name="uq_memberships_user_org_role"),
)

admin_tokens = Table(
    "admin_tokens", metadata,
    Column("id", String(36), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False),
    Column("prefix", String(40), nullable=False, unique=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("created_at", TS, nullable=False),
    Column("revoked_at", TS),
    Column("expires_at", TS),       # null: refused (every token gets one; migration 0004)
)

Index("ix_holds_active", holds.c.org_id, holds.c.released_at)
Index("uq_organizations_name_key", organizations.c.name_key, unique=True)

# Signed-in console sessions. The browser holds a random token; only its SHA-256 is stored, so a
# copy of the database cannot sign anyone in. Deleting the row ends the session on every worker.
console_sessions = Table(
    "console_sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id"), nullable=False, index=True),
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, nullable=False, index=True),
)

# Console sign-in attempts that have not succeeded (failed, or still being checked), for the rate
# limit every worker shares. Hashes of the account's email and of the client's address only;
# rows older than the longest window are deleted as new attempts arrive.
login_attempts = Table(
    "login_attempts", metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("account_hash", String(64), nullable=False),
    Column("address_hash", String(64), nullable=False),
    Column("at", TS, nullable=False, index=True),
)
Index("ix_login_attempts_account", login_attempts.c.account_hash, login_attempts.c.at)
Index("ix_login_attempts_address", login_attempts.c.address_hash, login_attempts.c.at)

# Which org created each upstream object: file, message batch, skill, session, container (the
# gateway relays all orgs' objects under one provider key; zdr.gateway.ownership refuses other
# orgs' ids). Ids only, no content. `expires_at`: the catalog's artifact period (batches 29 days;
# sessions and containers 30; files and skills null, until deleted). `kind`: at most 10 characters.
upstream_resources = Table(
    "upstream_resources", metadata,
    Column("id", ROW_ID, primary_key=True, autoincrement=True),
    Column("kind", String(10), nullable=False),
    Column("resource_id", String(200), nullable=False),
    Column("org_id", String(36), nullable=False, index=True),
    Column("workspace_id", String(36)),
    Column("exchange_id", String(40), nullable=False),   # the creating request (holds, "why")
    Column("created_at", TS, nullable=False),
    Column("expires_at", TS, index=True),
    UniqueConstraint("kind", "resource_id", name="uq_upstream_resources_kind_resource_id"),
)
