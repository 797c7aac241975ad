"""A small world for console tests: two organizations, their people and the provider's people.

Built once per session into a template SQLite file (argon2 hashing is deliberately slow), then
copied for each test so every test starts from the same state and may change it freely.
"""

from __future__ import annotations

import asyncio
import base64
import re
import secrets
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from starlette.testclient import TestClient

from zdr.control.plane import ControlPlane, build_control_plane
from zdr.control.roles import system_actor
from zdr.policy import Arrangements, OrgState, RequestFacts, WorkspaceState, decide
from zdr.ports import ClassificationRecord, ExchangeMetadata, RetainedContent
from zdr.settings import Settings, load_settings
from zdr.store.crypto import Keyring, load_master_key
from zdr.store.db import engine_for, migrate
from zdr.store.exchanges import SqlExchangeSink

PASSWORD = "correct horse battery staple"
PEOPLE = {
    # email: (provider roles, {org name: org roles})
    "admin@acme.test": ((), {"Acme": ("org_admin",)}),
    "owner@acme.test": ((), {"Acme": ("org_owner",)}),
    "member@acme.test": ((), {"Acme": ("org_member",)}),
    "owner@globex.test": ((), {"Globex": ("org_owner",)}),
    "reviewer@provider.test": (("reviewer",), {}),
    "legal@provider.test": (("legal",), {}),
    "safety@provider.test": (("trust_safety",), {}),
    "padmin@provider.test": (("provider_admin",), {}),
}


@dataclass
class World:
    settings: Settings
    plane: ControlPlane
    org_ids: dict[str, str]


def settings_for(home: Path, master_key: str) -> Settings:
    return load_settings(env={}, home=home, master_key=master_key,
                         session_secret=secrets.token_hex(32))


def build_template(home: Path) -> tuple[Path, str]:
    master_key = base64.b64encode(secrets.token_bytes(32)).decode()
    settings = settings_for(home, master_key)
    engine = engine_for(settings.database_url)
    migrate(engine)
    plane = build_control_plane(settings, engine)
    operator = system_actor()
    plane.orgs.create(operator, "Acme", "api")
    plane.orgs.create(operator, "Globex", "enterprise")
    plane.orgs.create(operator, "Homebrew", "pro")
    plane.workspaces.create(operator, "Acme", "default")
    plane.workspaces.create(operator, "Acme", "research", retention_override_days=30)
    plane.workspaces.create(operator, "Globex", "default")
    for email, (provider, org_roles) in PEOPLE.items():
        plane.accounts.create_user(operator, email, PASSWORD, provider_roles=provider,
                                   org_roles=org_roles)
    engine.dispose()
    return settings.sqlite_path, master_key


def copy_world(template: Path, master_key: str, home: Path) -> World:
    home.mkdir(parents=True, exist_ok=True)
    settings = settings_for(home, master_key)
    with sqlite3.connect(template) as source, sqlite3.connect(settings.sqlite_path) as target:
        source.backup(target)
    source.close()
    target.close()
    engine = engine_for(settings.database_url)
    plane = build_control_plane(settings, engine)
    orgs = plane.orgs.list(system_actor())
    return World(settings, plane, {org.name: org.id for org in orgs})


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def record_exchange(
    world: World, org_name: str, exchange_id: str, *, facts: RequestFacts | None = None,
    workspace_override: int | None = None, flagged_text: str | None = None,
) -> ExchangeMetadata:
    """Store one exchange through the store's own write path, decided by the real policy."""
    operator = system_actor()
    org = world.plane.orgs.show(operator, org_name)
    state = OrgState(plan=org.plan, zdr_status=org.zdr_status,  # type: ignore[arg-type]
                     zdr_effective_at=org.zdr_effective_at, hipaa=org.hipaa,
                     baa_version=org.baa_version, retention_days=org.retention_days,
                     org_id=org.id)
    now = datetime.now(UTC)
    decision = decide(facts or RequestFacts(surface="messages", model="claude-sonnet-5"),
                      Arrangements(org=state, workspace=WorkspaceState(workspace_override)),
                      world.plane.ctx.catalog, now)
    meta = ExchangeMetadata(exchange_id=exchange_id, org_id=org.id, workspace_id=None,
                            key_id=None, started_at=now, decision=decision,
                            status_code=decision.status, outcome="ok" if decision.allowed
                            else "rejected", input_tokens=12, output_tokens=40, duration_ms=210)
    sink = SqlExchangeSink(world.plane.ctx.engine,
                           Keyring(world.plane.ctx.engine, load_master_key(world.settings)))

    async def write() -> None:
        sink.start()
        await sink.record_metadata(meta)
        if flagged_text is not None:
            await sink.record_classification(
                meta,
                ClassificationRecord(exchange_id, org.id, "default", "1", True,
                                     {"weapons": 0.93}, {"weapons": True}),
                RetainedContent(request=flagged_text.encode(), response=b"(refused)"),
            )
        await sink.flush()

    # Callers may run inside an event loop (Playwright's sync API): write from another thread.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, write()).result(timeout=30)
    sink.close()
    return meta


def sign_in(client: TestClient, email: str, password: str = PASSWORD) -> str:
    """Sign in; returns the signed-in session's CSRF token."""
    form = client.get("/console/login")
    token = csrf_of(form.text)
    response = client.post("/console/login", data={
        "email": email, "password": password, "csrf_token": token})
    assert response.status_code == 303, response.text
    page = client.get(response.headers["location"], follow_redirects=True)
    return csrf_of(page.text)
