"""The real Claude Code CLI (`claude -p`, the version pinned in tests/e2e/clients/) and the
official TypeScript SDK, pointed at a real `zdr serve` (ANTHROPIC_BASE_URL) in front of the
stand-in upstream, one organization per arrangement.

What Claude Code sends on every request, and so what these tests put through the policy: the
`?beta=true` route, `anthropic-beta: claude-code-20250219,…,context-management-2025-06-27,…`,
`anthropic-dangerous-direct-browser-access: true` (it is not a browser), `x-app: cli`,
`context_management`, adaptive `thinking`, a `metadata.user_id`, a dozen tools and a
`role: "system"` turn. A refusal reaches the user as the CLI's `API Error: 400 <message>`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from node_clients import claude_bin, install
from sqlalchemy import select

from serve_process import ZdrHome
from zdr.store.tables import contents, exchanges
from zdr.testing.canaries import files_under, new_canary, occurrences

pytestmark = pytest.mark.slow

COVERED_MODEL = "claude-mythos-5"
COVERED_MODEL_REFUSAL = ("In order to access this model, your organization or workspace must "
                         "have data retention enabled.")
CLI_TIMEOUT = 120
# What the pinned CLI sends in `anthropic-beta` with its default model (captured on the wire).
CLI_BETAS = frozenset({
    "claude-code-20250219", "interleaved-thinking-2025-05-14", "context-management-2025-06-27",
    "per-turn-control-2026-07-01", "mid-conversation-tool-changes-2026-07-01",
    "thinking-token-count-2026-05-13", "advanced-tool-use-2025-11-20", "effort-2025-11-24"})


@pytest.fixture(scope="module")
def clients():
    return install()


@pytest.fixture(scope="module")
def orgs(module_seeder):
    """name -> (API key, org id), one organization per arrangement."""
    return {
        "standard": module_seeder.org("cli-standard"),
        "zdr": module_seeder.org("cli-zdr", zdr=True),
        "hipaa_zdr": module_seeder.org("cli-hipaa-zdr", zdr=True, hipaa=True),
        "hipaa": module_seeder.org("cli-hipaa", hipaa=True),
    }


@pytest.fixture(scope="module")
def gateway(module_seeder, orgs, stub):
    """`zdr serve` as a user runs it, on the seeded home, relaying to the stand-in."""
    home = ZdrHome.fresh(module_seeder.settings.home)
    with home.serve("--upstream", stub.url) as served:
        yield served.url


def claude(clients: Path, gateway: str, key: str, prompt: str, *args: str,
           home: Path, headers: str = "") -> subprocess.CompletedProcess[str]:
    """`claude -p PROMPT` as a user runs it against the gateway; only these settings reach it."""
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "ANTHROPIC_BASE_URL": gateway,
           "ANTHROPIC_API_KEY": key, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
           "DISABLE_AUTOUPDATER": "1"}
    if headers:
        env["ANTHROPIC_CUSTOM_HEADERS"] = headers
    return subprocess.run([str(claude_bin(clients)), "-p", prompt, *args], cwd=home, env=env,
                          capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False)


def stored(seeder, org_id: str, count: int) -> tuple[list, list]:
    """The org's exchange metadata rows (waiting for `count` of them: the store writes behind
    the response) and the ids of its stored contents."""
    deadline = time.monotonic() + 15
    while True:
        with seeder.engine.connect() as conn:
            rows = conn.execute(select(exchanges).where(exchanges.c.org_id == org_id)
                                .order_by(exchanges.c.started_at)).all()
            kept = conn.execute(select(contents.c.exchange_id)
                                .where(contents.c.org_id == org_id)).all()
        if len(rows) >= count or time.monotonic() > deadline:
            return rows, [r.exchange_id for r in kept]
        time.sleep(0.1)


def upstream_requests(stub) -> int:
    return stub.stub.stats.requests


def last_upstream(stub) -> tuple[str, dict[str, str]]:
    return stub.stub.stats.seen_paths[-1], stub.stub.stats.seen_headers[-1]


def betas(headers: dict[str, str]) -> set[str]:
    return {b.strip() for b in headers.get("anthropic-beta", "").split(",") if b.strip()}


def test_a_standard_org_works_and_keeps_its_content_30_days(clients, gateway, orgs, stub,
                                                           module_seeder, tmp_path):
    key, org_id = orgs["standard"]
    prompt = f"say hi {new_canary('std')}"
    done = claude(clients, gateway, key, prompt, home=tmp_path / "user")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"You said: {prompt}"
    path, headers = last_upstream(stub)
    assert path == "/v1/messages?beta=true"
    assert betas(headers) == CLI_BETAS        # a standard org's betas pass unchanged
    rows, kept = stored(module_seeder, org_id, 1)
    assert [(r.surface, r.status_code, r.outcome, r.retention) for r in rows] == [
        ("claude_code_api", 200, "ok", "30d")]
    assert kept == [rows[0].id]


@pytest.mark.parametrize("org", [
    "zdr",          # ZDR approved: Claude Code with an org API key is ZDR-eligible
    "hipaa_zdr",    # HIPAA with ZDR in force: context management is allowed, Claude Code covered
])
def test_a_zdr_org_works_and_nothing_of_its_content_is_kept(org, clients, gateway, orgs, stub,
                                                           module_seeder, tmp_path):
    key, org_id = orgs[org]
    before = len(stored(module_seeder, org_id, 0)[0])
    prompt = f"say hi {new_canary('prompt')}"
    done = claude(clients, gateway, key, prompt, home=tmp_path / "user")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == f"You said: {prompt}"
    path, headers = last_upstream(stub)
    assert path == "/v1/messages?beta=true"
    relayed = betas(headers)
    assert relayed <= CLI_BETAS
    # A tool-use turn: the CLI runs Bash and sends its output back through the gateway.
    tool_output = new_canary("tool")
    call = json.dumps({"command": f"echo {tool_output}", "description": "Echo a marker"})
    tooled = claude(clients, gateway, key, "run the echo", "--allowedTools", "Bash",
                    home=tmp_path / "user", headers=f"x-stub-tool-call: Bash {call}")
    assert tooled.returncode == 0, tooled.stdout + tooled.stderr
    assert tooled.stdout.strip() == f"The tool said: {tool_output}"
    rows, kept = stored(module_seeder, org_id, before + 3)
    assert [(r.surface, r.status_code, r.outcome, r.zdr_state, r.retention)
            for r in rows[before:]] == [("claude_code_api", 200, "ok", "applied", "zero")] * 3
    assert kept == []
    # Any beta held back from the upstream is named in the decision's reasons.
    reasons = " ".join(rows[before].decision["reasons"])
    assert [b for b in sorted(CLI_BETAS - relayed) if b not in reasons] == []
    home = module_seeder.settings.home
    assert occurrences([prompt.split()[-1], tool_output], files_under(home)) == []


def test_a_hipaa_org_without_zdr_is_refused_claude_code(clients, gateway, orgs, stub,
                                                       module_seeder, tmp_path):
    key, org_id = orgs["hipaa"]
    before = upstream_requests(stub)
    done = claude(clients, gateway, key, "say hi", home=tmp_path / "user")
    assert done.returncode != 0
    shown = done.stdout + done.stderr
    assert "API Error: 400" in shown and "HIPAA" in shown, shown
    assert upstream_requests(stub) == before       # refused at the gateway, never relayed
    rows, kept = stored(module_seeder, org_id, 1)
    assert rows and {(r.status_code, r.outcome) for r in rows} == {(400, "rejected")}
    assert kept == []


def test_a_zdr_org_is_refused_a_covered_model_with_the_providers_words(
        clients, gateway, orgs, stub, module_seeder, tmp_path):
    key, org_id = orgs["zdr"]
    before, relayed = len(stored(module_seeder, org_id, 0)[0]), upstream_requests(stub)
    done = claude(clients, gateway, key, "say hi", "--model", COVERED_MODEL,
                  home=tmp_path / "user")
    assert done.returncode != 0
    shown = done.stdout + done.stderr
    assert f"API Error: 400 {COVERED_MODEL_REFUSAL}" in shown, shown
    assert upstream_requests(stub) == relayed
    rows, _ = stored(module_seeder, org_id, before + 1)
    refused = [r for r in rows if r.model == COVERED_MODEL]
    assert refused and {(r.status_code, r.outcome) for r in refused} == {(400, "rejected")}


def test_the_typescript_sdk_creates_and_streams_through_the_gateway(clients, gateway, orgs):
    key, _ = orgs["zdr"]
    prompt = f"hello {new_canary('ts')}"
    done = subprocess.run(
        ["node", str(Path(__file__).parent / "clients" / "sdk_roundtrip.mjs"), str(clients),
         prompt],
        env={"PATH": os.environ.get("PATH", ""), "ANTHROPIC_BASE_URL": gateway,
             "ANTHROPIC_API_KEY": key},
        capture_output=True, text=True, timeout=CLI_TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for call in ("create", "stream"):
        assert result[call]["text"] == f"You said: {prompt}"
        assert result[call]["stop_reason"] == "end_turn"
        assert result[call]["headers"]["zdr-retention"] == "zero"
