"""A fresh home with a migrated store and a master key, and organizations, workspaces and API
keys written straight into it (no control plane): for tests that start a gateway on it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from zdr.keys import new_api_key
from zdr.settings import load_settings
from zdr.store import tables
from zdr.store.crypto import create_master_key_file
from zdr.store.db import engine_for, migrate


class Seeder:
    def __init__(self, home: Path) -> None:
        self.settings = load_settings(env={}, home=home)
        self.engine = engine_for(self.settings.database_url)
        migrate(self.engine)
        create_master_key_file(self.settings.key_file)

    def org(self, name: str, *, plan: str = "api", zdr: bool = False,
            hipaa: bool = False) -> tuple[str, str]:
        """A new org with a default workspace and an API key: (the key's secret, the org id)."""
        now = datetime.now(UTC)
        org_id, ws_id, key = str(uuid.uuid4()), str(uuid.uuid4()), new_api_key()
        with self.engine.begin() as conn:
            conn.execute(tables.organizations.insert().values(
                id=org_id, name=name, plan=plan, created_at=now,
                zdr_status="approved" if zdr else "none", zdr_effective_at=now if zdr else None,
                hipaa=hipaa, baa_version="2026-01" if hipaa else None))
            conn.execute(tables.workspaces.insert().values(
                id=ws_id, org_id=org_id, name="default", created_at=now))
            conn.execute(tables.api_keys.insert().values(
                id=str(uuid.uuid4()), org_id=org_id, workspace_id=ws_id, kind="api",
                prefix=key.prefix, key_hash=key.digest, created_at=now))
        return key.secret, org_id

    def close(self) -> None:
        self.engine.dispose()
