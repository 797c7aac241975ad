"""`zdr init`: a home folder with its config, master key, signing key, migrated store and first
provider admin.

The admin's password and admin token are generated here and returned once; only their hashes are
kept. Running it again on an initialized home is refused, or (with `if_missing`) a no-op.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from zdr.control.plane import build_control_plane
from zdr.control.roles import system_actor
from zdr.errors import Conflict
from zdr.proof.signing import load_signer
from zdr.settings import Settings
from zdr.store.crypto import create_master_key_file
from zdr.store.db import engine_for, migrate
from zdr.store.tables import memberships

CONFIG_TEMPLATE = """\
# zdr-gateway configuration. Every key may also come from a ZDR_<KEY> environment variable.
# db_url = "postgresql://user@host/zdr"   # default: the SQLite file in this folder
# upstream_url = "https://api.anthropic.com"
# port = 8787
# key_cache_ttl_seconds = 2.0
# metrics_token = "…"      # /metrics then needs `Authorization: Bearer …`
# metrics_port = 9787       # /metrics served there only (on metrics_host, default 127.0.0.1)
# This file is private (0600): `zdr serve` refuses it readable by others once it holds a
# secret (provider_api_key, master_key, session_secret, metrics_token, a db_url password).
"""


@dataclass(frozen=True, slots=True)
class InitResult:
    home: Path
    created: bool
    admin_email: str | None = None
    admin_password: str | None = None     # shown once
    admin_token: str | None = None        # shown once
    admin_token_expires_at: datetime | None = None


def init_home(settings: Settings, admin_email: str, *, if_missing: bool = False) -> InitResult:
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    home.chmod(0o700)
    config = home / "config.toml"
    if not config.exists():         # private: an operator may add keys and tokens to it
        descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(CONFIG_TEMPLATE)
    if not settings.master_key and not settings.key_file.exists():
        create_master_key_file(settings.key_file)
    load_signer(settings)       # the Ed25519 signing key file (0600), unless ZDR_SIGNING_KEY
    engine = engine_for(settings.database_url)
    try:
        migrate(engine)
        with engine.connect() as conn:
            has_admin = conn.execute(select(memberships.c.id).where(
                memberships.c.role == "provider_admin", memberships.c.org_id.is_(None))
            ).first() is not None
        if has_admin:
            if if_missing:   # a home made before evidence existed: its key, a keyed chain
                build_control_plane(settings, engine=engine).audit.prepare()
                return InitResult(home=home, created=False)
            raise Conflict(f"{home} is already initialized (use --if-missing to accept that)")
        plane = build_control_plane(settings, engine=engine)
        operator = system_actor()
        password = secrets.token_urlsafe(18)
        user = plane.accounts.create_user(operator, admin_email, password, ["provider_admin"])
        token = plane.accounts.create_token(operator, user.email)
        return InitResult(home=home, created=True, admin_email=user.email,
                          admin_password=password, admin_token=token.secret,
                          admin_token_expires_at=token.expires_at)
    finally:
        engine.dispose()
