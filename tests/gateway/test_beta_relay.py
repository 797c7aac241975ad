"""Rule 5a on the wire: which `anthropic-beta` values the upstream receives, and the
`zdr-betas-removed` header that tells the client what was taken out (the gateway driven without
sockets, its upstream in memory: `memory_gateway`)."""

from __future__ import annotations

import orjson
from asgi_exchange import Answer
from memory_gateway import World

from zdr.testing.canaries import new_canary

MSG = {"model": "claude-sonnet-5", "max_tokens": 16,
       "messages": [{"role": "user", "content": "hello"}],
       "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]}}
# captured on the wire from @anthropic-ai/claude-code 2.1.332 (`claude -p`)
CLI_BETAS = ("claude-code-20250219,interleaved-thinking-2025-05-14,"
             "context-management-2025-06-27,per-turn-control-2026-07-01,"
             "mid-conversation-tool-changes-2026-07-01,thinking-token-count-2026-05-13,"
             "advanced-tool-use-2025-11-20,effort-2025-11-24")
CLI_HEADERS = {"user-agent": "claude-cli/2.1.332 (external, cli)", "x-app": "cli",
               "anthropic-dangerous-direct-browser-access": "true"}


async def post(world: World, key: str, betas: str | None, body: object = MSG,
               **headers: str) -> Answer:
    extra = {} if betas is None else {"anthropic-beta": betas}
    return await world.post(key, body, headers={**extra, **headers})


def upstream_betas(world: World) -> str | None:
    return world.sent.headers.get("anthropic-beta")


async def test_the_claude_code_cli_of_a_zdr_org_is_served_with_all_its_betas(
    world: World
) -> None:
    """The CLI's own headers (dangerous-direct-browser-access included, no Origin) under ZDR:
    200, ZDR applied, every beta it sends reaches the upstream."""
    key = world.key("cli-zdr", zdr=True)
    answer = await post(world, key, CLI_BETAS, **CLI_HEADERS)
    assert answer.status == 200, answer.body
    assert answer.headers["zdr-retention"] == "zero"
    assert "zdr-betas-removed" not in answer.headers
    assert upstream_betas(world) == CLI_BETAS
    assert world.sink.metadata[-1].decision.surface == "claude_code_api"


async def test_a_zdr_org_loses_ineligible_and_unknown_betas(world: World) -> None:
    key = world.key("beta-zdr", zdr=True)
    answer = await post(world, key,
                        "effort-2025-11-24, files-api-2025-04-14,brand-new-2027-01-01")
    assert answer.status == 200, answer.body
    assert upstream_betas(world) == "effort-2025-11-24"
    assert answer.headers["zdr-betas-removed"] == "brand-new-2027-01-01,files-api-2025-04-14"
    reasons = " ".join(h.reason for h in world.sink.metadata[-1].decision.rules)
    assert "files-api-2025-04-14" in reasons and "brand-new-2027-01-01" in reasons


async def test_when_no_beta_is_left_the_header_is_not_sent(world: World) -> None:
    key = world.key("beta-none-left", zdr=True)
    answer = await post(world, key, "message-batches-2024-09-24")
    assert answer.status == 200
    assert upstream_betas(world) is None
    assert answer.headers["zdr-betas-removed"] == "message-batches-2024-09-24"


async def test_a_hipaa_org_without_zdr_loses_betas_the_baa_does_not_cover(world: World) -> None:
    key = world.key("beta-hipaa", hipaa=True)
    body = {k: v for k, v in MSG.items() if k != "context_management"}
    answer = await post(world, key, "effort-2025-11-24,advisor-tool-2026-03-01", body)
    assert answer.status == 200, answer.body
    assert upstream_betas(world) == "effort-2025-11-24"
    assert answer.headers["zdr-betas-removed"] == "advisor-tool-2026-03-01"


async def test_a_standard_orgs_betas_pass_unchanged(world: World) -> None:
    key = world.key("beta-standard")
    sent = "files-api-2025-04-14, brand-new-2027-01-01,Odd Value"
    answer = await post(world, key, sent)
    assert answer.status == 200
    assert upstream_betas(world) == sent
    assert "zdr-betas-removed" not in answer.headers


async def test_text_in_the_beta_header_is_never_echoed_or_stored(world: World) -> None:
    """A ZDR org's beta header carrying text: removed, and named only as "(not a beta name)".
    (Only a value shaped like a beta name, lower-case words ending in a date, is named.)"""
    key = world.key("beta-canary", zdr=True)
    canary = new_canary("BETA")
    junk = ",".join(f"junk-{n}" for n in range(70))       # past the 64 values read
    answer = await post(world, key, f"effort-2025-11-24,{canary},{canary} 2025-01-01,{junk}")
    assert answer.status == 200
    assert upstream_betas(world) == "effort-2025-11-24"
    assert answer.headers["zdr-betas-removed"] == ("(not a beta name),"
                                                   "(more betas than the gateway reads)")
    assert canary.lower() not in str(answer.headers).lower()
    decision = world.sink.metadata[-1].decision
    assert canary.lower() not in orjson.dumps(decision.as_json()).decode().lower()
    assert canary.lower() not in world.logs.text().lower()
