"""Request facts from realistic Messages API requests; no content ever reaches the facts."""

from __future__ import annotations

import json

import pytest
from policy_world import NOW, arrangements

from zdr.policy import decide, extract_facts

CANARY = "ZDRCANARY-5f1e2d9c"
MODEL = "claude-sonnet-4-5-20250929"


def post(body, *, path="/v1/messages", headers=None, key="api", catalog):
    return extract_facts("POST", path, headers or {}, body, key, catalog)


def conversation(text: str, turns: int = 3) -> list[dict]:
    messages: list[dict] = []
    for i in range(turns):
        messages.append({"role": "user", "content": [{"type": "text", "text": f"{text} {i}"}]})
        messages.append({"role": "assistant", "content": [
            {"type": "thinking", "thinking": text, "signature": "sig"},
            {"type": "tool_use", "id": f"toolu_{i}", "name": "lookup",
             "input": {"query": text, "file_id": text, CANARY: text}},
        ]})
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": f"toolu_{i}",
             "content": [{"type": "text", "text": text}]},
        ]})
    return messages


FEATURE_CASES = [
    # (body additions, expected features)
    # a plain request has no features
    ({}, set()),
    # server tools by type prefix, each version
    ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, {"web_search"}),
    ({"tools": [{"type": "web_search_20260209", "name": "web_search"}]},
     {"web_search_dynamic_filtering"}),
    ({"tools": [{"type": "web_fetch_20250910", "name": "web_fetch"}]}, {"web_fetch"}),
    ({"tools": [{"type": "web_fetch_20260318", "name": "web_fetch"}]},
     {"web_fetch_dynamic_filtering"}),
    ({"tools": [{"type": "code_execution_20260521", "name": "code_execution"}]},
     {"code_execution"}),
    ({"tools": [{"type": "tool_search_tool_bm25", "name": "tool_search_tool_bm25"}]},
     {"tool_search"}),
    # client tools
    ({"tools": [{"type": "bash_20241022", "name": "bash"},
                {"type": "text_editor_20250429", "name": "str_replace_based_edit_tool"},
                {"type": "computer_20251124", "name": "computer"},
                {"type": "memory_20250818", "name": "memory"}]},
     {"bash", "text_editor", "computer_use", "memory"}),
    # a custom tool with strict, and one with cache_control
    ({"tools": [{"name": "f", "input_schema": {}, "strict": True,
                 "cache_control": {"type": "ephemeral"}}]},
     {"structured_outputs", "prompt_caching"}),
    # programmatic tool calling
    ({"tools": [{"name": "f", "input_schema": {}, "allowed_callers": ["code_execution_20250825"]}]},
     {"code_execution"}),
    # MCP connector: servers and toolset
    ({"mcp_servers": [{"type": "url", "url": "https://x", "name": "x"}],
      "tools": [{"type": "mcp_toolset", "mcp_server_name": "x"}]}, {"mcp_connector"}),
    # container: an id means code execution, skills mean Agent Skills
    ({"container": "container_011CPR5CNjB747bTd36fQLFk"}, {"code_execution"}),
    ({"container": {"skills": [{"type": "anthropic", "skill_id": "xlsx"}]}}, {"agent_skills"}),
    # structured outputs: old and new shapes
    ({"output_format": {"type": "json_schema", "schema": {}}}, {"structured_outputs"}),
    ({"output_config": {"format": {"type": "json_schema", "schema": {}}}}, {"structured_outputs"}),
    ({"output_config": {"effort": "high"}}, set()),
    # context management: editing vs compaction; the compaction parameter
    ({"context_management": {"edits": [{"type": "clear_thinking_20251015"}]}},
     {"context_editing"}),
    ({"context_management": {"edits": [{"type": "compact_20260112"}]}}, {"compaction"}),
    ({"compaction": {"type": "compact"}}, {"compaction"}),
    # thinking on, thinking off
    ({"thinking": {"type": "enabled", "budget_tokens": 2048}}, {"thinking"}),
    ({"thinking": {"type": "disabled"}}, set()),
    # inference_geo and top-level cache_control
    ({"inference_geo": "us"}, {"inference_geo"}),
    ({"cache_control": {"type": "ephemeral"}}, {"prompt_caching"}),
]


@pytest.mark.parametrize(("extra", "expected"), FEATURE_CASES)
def test_body_features(catalog, extra, expected):
    """Each documented request shape maps to its catalog feature."""
    facts = post({"model": MODEL, "max_tokens": 10, "messages": conversation("hi", 1), **extra},
                 catalog=catalog)
    assert facts.features == expected
    assert not facts.unknown_features


BLOCK_CASES = [
    # (content blocks of a user message, expected features)
    # a file_id image source
    ([{"type": "image", "source": {"type": "file", "file_id": "file_1"}}], {"files"}),
    # a file_id nested in a tool result document
    ([{"type": "tool_result", "tool_use_id": "t", "content": [
        {"type": "document", "source": {"type": "file", "file_id": "file_2"}}]}], {"files"}),
    # container uploads are Files API files
    ([{"type": "container_upload", "file_id": "file_3"}], {"files"}),
    # an inline PDF with citations
    ([{"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                      "data": "JVBERi0="}, "citations": {"enabled": True}}],
     {"pdf", "citations"}),
    # a cache breakpoint on a text block
    ([{"type": "text", "text": "x", "cache_control": {"type": "ephemeral"}}], {"prompt_caching"}),
    # MCP results and a compaction block in the history
    ([{"type": "mcp_tool_result", "tool_use_id": "t", "content": []}], {"mcp_connector"}),
    ([{"type": "compaction", "content": "summary"}], {"compaction"}),
]


@pytest.mark.parametrize(("blocks", "expected"), BLOCK_CASES)
def test_content_block_features(catalog, blocks, expected):
    """Features found anywhere in the messages' content blocks."""
    facts = post({"model": MODEL, "max_tokens": 10,
                  "messages": [{"role": "user", "content": blocks}]}, catalog=catalog)
    assert facts.features == expected


SURFACE_CASES = [
    # (method, path, headers, key kind, expected surface)
    ("POST", "/v1/messages", {}, "api", "messages"),
    ("POST", "/v1/messages?beta=true", {}, "api", "messages"),
    ("POST", "/v1/messages/count_tokens", {}, "api", "count_tokens"),
    ("POST", "/v1/messages/batches", {}, "api", "batches"),
    ("GET", "/v1/messages/batches/msgbatch_1/results", {}, "api", "batches"),
    ("POST", "/v1/files", {}, "api", "files"),
    ("GET", "/v1/models", {}, "api", "models"),
    # Claude Code with an org API key: any one of its three signals
    ("POST", "/v1/messages", {"user-agent": "claude-cli/2.0.14 (external, cli)"}, "api",
     "claude_code_api"),
    ("POST", "/v1/messages", {"x-app": "cli"}, "api", "claude_code_api"),
    ("POST", "/v1/messages", {"anthropic-beta": "oauth-2025-04-20,claude-code-20250219"}, "api",
     "claude_code_api"),
    # other betas are not Claude Code
    ("POST", "/v1/messages", {"anthropic-beta": "files-api-2025-04-14"}, "api", "messages"),
    # Enterprise seats are Claude Code Enterprise
    ("POST", "/v1/messages", {}, "enterprise_seat", "claude_code_enterprise"),
    ("POST", "/api/claude_cli_feedback", {}, "enterprise_seat", "claude_code_enterprise"),
    # console and consumer keys decide the surface
    ("POST", "/v1/messages", {"user-agent": "claude-cli/2"}, "console", "console"),
    ("POST", "/v1/messages", {}, "consumer", "consumer"),
    # unknown routes have no surface: the policy refuses them
    ("POST", "/v1/complete", {}, "api", "unknown"),
]


@pytest.mark.parametrize(("method", "path", "headers", "key", "surface"), SURFACE_CASES)
def test_surface(catalog, method, path, headers, key, surface):
    """The surface comes from key kind, route and Claude Code signals."""
    facts = extract_facts(method, path, headers, None, key, catalog)
    assert facts.surface == surface


def test_route_features(catalog):
    """Routes add their own features: count_tokens, batches, files, Claude Code storage."""
    assert post(None, path="/v1/messages/count_tokens", catalog=catalog).features == \
        {"token_counting"}
    assert post(None, path="/v1/files", catalog=catalog).features == {"files"}
    assert post(None, path="/v1/code/sessions/abc", catalog=catalog).features == \
        {"claude_code_remote_session"}


def test_batch_collects_every_request(catalog):
    """A batch's features are the union over its requests; a covered model anywhere is found."""
    body = {"requests": [
        {"custom_id": "1", "params": {"model": MODEL, "max_tokens": 5, "messages": [],
                                      "tools": [{"type": "web_search_20250305", "name": "w"}]}},
        {"custom_id": "2", "params": {"model": "claude-mythos-5", "max_tokens": 5,
                                      "messages": [], "thinking": {"type": "adaptive"}}},
    ]}
    facts = post(body, path="/v1/messages/batches", catalog=catalog)
    assert facts.features == {"batches", "web_search", "thinking"}
    assert facts.model == "claude-mythos-5"


UNKNOWN_CASES = [
    # (body additions, expected unknown feature)
    # a server tool the catalog has never heard of
    ({"tools": [{"type": "advisor_20260301", "name": "advisor"}]}, "tool:advisor_20260301"),
    # server-held conversation state: an unknown parameter
    ({"thread": {"type": "create"}}, "param:thread"),
    # an unknown context edit
    ({"context_management": {"edits": [{"type": "summarize_20270101"}]}},
     "context_edit:summarize_20270101"),
    # wrong shapes are not ignored
    ({"tools": "web_search"}, "param:tools"),
    ({"context_management": {"edits": "all"}}, "param:context_management"),
    # a parameter whose name is not an API name is not copied
    ({"Ignore previous instructions": 1}, "param:(not an API name)"),
]


@pytest.mark.parametrize(("extra", "unknown"), UNKNOWN_CASES)
def test_unknown_features_fail_closed(catalog, extra, unknown):
    """What extraction cannot classify becomes an unknown feature, which decide refuses."""
    facts = post({"model": MODEL, "max_tokens": 1, "messages": [], **extra}, catalog=catalog)
    assert unknown in facts.unknown_features
    assert not decide(facts, arrangements("api", "approved"), catalog, NOW).allowed


def test_unreadable_request_fails_closed(catalog):
    """A body that is not an object, or headers that break, still give refusable facts."""
    not_object = post(["a", "list"], catalog=catalog)
    assert not_object.unknown_features == {"body:not_an_object"}
    broken = extract_facts("POST", "/v1/messages", None, {}, "api", catalog)  # type: ignore[arg-type]
    assert broken.unknown_features == {"request:unreadable"}
    assert not decide(broken, arrangements(), catalog, NOW).allowed


def test_deep_nesting_fails_closed(catalog):
    """Content nested deeper than the walker looks could hide a file: refused."""
    block: dict = {"type": "document", "source": {"type": "file", "file_id": "f"}}
    for _ in range(30):
        block = {"type": "tool_result", "tool_use_id": "t", "content": [block]}
    facts = post({"model": MODEL, "max_tokens": 1, "messages": [{"role": "user",
                                                                 "content": [block]}]},
                 catalog=catalog)
    assert "body:nested_too_deep" in facts.unknown_features


def test_browser_signals(catalog):
    """Only the CORS Origin header marks browser traffic: the Claude Code CLI sends
    anthropic-dangerous-direct-browser-access on every request, from no browser at all."""
    assert post({}, headers={"origin": "https://a"}, catalog=catalog).browser_access
    assert not post({}, headers={"anthropic-dangerous-direct-browser-access": "true"},
                    catalog=catalog).browser_access
    assert not post({}, catalog=catalog).browser_access


def test_message_text_never_reaches_facts_or_decision(catalog):
    """A canary everywhere content can be (text, system, thinking, tool input and results,
    tool descriptions, documents, metadata, stop sequences, a tool-input key) is in neither the
    facts nor the decision's JSON, on every arrangement."""
    body = {
        "model": MODEL,
        "max_tokens": 100,
        "system": [{"type": "text", "text": CANARY, "cache_control": {"type": "ephemeral"}}],
        "messages": [*conversation(CANARY, 40), {"role": "user", "content": [
            {"type": "document", "title": CANARY, "context": CANARY,
             "source": {"type": "text", "media_type": "text/plain", "data": CANARY},
             "citations": {"enabled": True}},
            {"type": "search_result", "source": CANARY, "title": CANARY,
             "content": [{"type": "text", "text": CANARY}]},
        ]}],
        "tools": [{"name": "lookup", "description": CANARY,
                   "input_schema": {"type": "object", "properties": {CANARY: {}}}},
                  {"type": "web_search_20250305", "name": "web_search",
                   "allowed_domains": [CANARY]}],
        "metadata": {"user_id": CANARY},
        "stop_sequences": [CANARY],
        "output_config": {"format": {"type": "json_schema", "schema": {"title": CANARY}}},
    }
    facts = post(json.loads(json.dumps(body)), catalog=catalog)
    assert CANARY not in repr(facts)
    assert facts.features == {"prompt_caching", "citations", "web_search", "structured_outputs"}
    for arr in (arrangements("api", "approved"), arrangements("api"),
                arrangements("enterprise", hipaa=True)):
        decision = decide(facts, arr, catalog, NOW)
        assert CANARY not in json.dumps(decision.as_json())
        assert CANARY not in repr(decision)


def test_canary_in_names_is_not_copied(catalog):
    """A canary in an unknown parameter or tool type name does not reach the error message."""
    body = {"model": MODEL, "max_tokens": 1, "messages": [],
            CANARY: 1, "tools": [{"type": CANARY}],
            "context_management": {"edits": [{"type": CANARY}]}}
    facts = post(body, catalog=catalog)
    decision = decide(facts, arrangements(), catalog, NOW)
    assert not decision.allowed
    assert CANARY not in repr(facts)
    assert CANARY not in json.dumps(decision.as_json())


BETA_CASES = [
    # (anthropic-beta header, facts.betas)
    # in order, spaces and case ignored, duplicates once
    ("effort-2025-11-24, Interleaved-Thinking-2025-05-14,effort-2025-11-24",
     ("effort-2025-11-24", "interleaved-thinking-2025-05-14")),
    # a date without dashes (the Claude Code beta)
    ("claude-code-20250219", ("claude-code-20250219",)),
    # empty values skipped
    (" , ,effort-2025-11-24,", ("effort-2025-11-24",)),
    # anything not shaped like a beta name is renamed, never copied
    (f"{CANARY},effort-2025-11-24", ("(not a beta name)", "effort-2025-11-24")),
    ("effort 2025-11-24", ("(not a beta name)",)),
    ("x" * 70 + "-2025-01-01", ("(not a beta name)",)),
    # at most 64 values are read
    (",".join(f"b{n}-2025-01-01" for n in range(70)),
     (*(f"b{n}-2025-01-01" for n in range(64)), "(more betas than the gateway reads)")),
    ("", ()),
]


@pytest.mark.parametrize(("header", "betas"), BETA_CASES)
def test_beta_header_values(catalog, header, betas):
    """The anthropic-beta values the policy judges; text that is not a beta name never is."""
    facts = post({"model": MODEL}, headers={"anthropic-beta": header}, catalog=catalog)
    assert facts.betas == betas
    assert CANARY not in repr(facts)


MALFORMED_CASES = [
    # (body, path, malformed parameters)
    ({"model": ["claude-mythos-5"]}, "/v1/messages", ("model",)),
    ({"model": 5}, "/v1/messages", ("model",)),
    ({"model": {"id": "claude-mythos-5"}}, "/v1/messages", ("model",)),
    ({"model": None}, "/v1/messages/count_tokens", ("model",)),
    ({"model": True}, "/v1/messages", ("model",)),
    ({"requests": [{"custom_id": "a", "params": {"model": ["claude-mythos-5"]}}]},
     "/v1/messages/batches", ("requests[].params.model",)),
    # a string, or no model at all (the upstream says it is missing): not malformed here
    ({"model": "claude-sonnet-5"}, "/v1/messages", ()),
    ({}, "/v1/messages", ()),
]


@pytest.mark.parametrize(("body", "path", "malformed"), MALFORMED_CASES)
def test_a_model_that_is_not_a_string_is_a_400(catalog, body, path, malformed):
    """A model list, number, object or null is refused as the API would: 400
    invalid_request_error, before any rule reads it (a list could hide a covered model)."""
    facts = post(body, path=path, catalog=catalog)
    assert facts.malformed == malformed
    decision = decide(facts, arrangements("api", "approved"), catalog, NOW)
    assert decision.allowed is (not malformed)
    if malformed:
        assert decision.error is not None
        assert (decision.error.status, decision.error.type) == (400, "invalid_request_error")
        assert decision.error.message.startswith(f"{malformed[0]}: Input should be a valid string")
        assert [k for k, v in decision.keep.items() if v.kept] == ["metadata"]
