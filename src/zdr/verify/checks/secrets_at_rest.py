"""Keys, tokens and passwords are stored only as hashes (docs/DESIGN.md §1, §6).

API keys and admin tokens: a SHA-256 hex digest and a short public prefix; passwords: argon2.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from zdr.keys import KEY_PREFIX, TOKEN_PREFIX
from zdr.store.tables import admin_tokens, api_keys, users
from zdr.verify.checks.context import StoreContext
from zdr.verify.report import CheckResult

SHA256_HEX = re.compile(r"[0-9a-f]{64}")
PUBLIC_PREFIX = {KEY_PREFIX: re.compile(re.escape(KEY_PREFIX) + r"[0-9a-f]{8}"),
                 TOKEN_PREFIX: re.compile(re.escape(TOKEN_PREFIX) + r"[0-9a-f]{8}")}


def check_secrets_at_rest(ctx: StoreContext) -> CheckResult:
    result = CheckResult("secrets_at_rest", "Keys, tokens and passwords stored only as hashes")
    with ctx.connect() as conn:
        for table, digest, kind in ((api_keys, api_keys.c.key_hash, KEY_PREFIX),
                                    (admin_tokens, admin_tokens.c.token_hash, TOKEN_PREFIX)):
            query = select(table.c.id, table.c.prefix, digest.label("digest"))
            if table is api_keys:
                query = query.where(ctx.scope(api_keys))
            for row in conn.execute(query):
                result.examined += 1
                if not SHA256_HEX.fullmatch(row.digest or ""):
                    result.add(f"{table.name}#{row.id}", "stored secret is not a SHA-256 digest")
                if not PUBLIC_PREFIX[kind].fullmatch(row.prefix or ""):
                    result.add(f"{table.name}#{row.id}",
                               "stored prefix is longer than the public part of the secret")
        for user in conn.execute(select(users.c.id, users.c.password_hash)):
            result.examined += 1
            if user.password_hash is not None and not user.password_hash.startswith("$argon2"):
                result.add(f"users#{user.id}", "password is not stored as an argon2 hash")
    return result
