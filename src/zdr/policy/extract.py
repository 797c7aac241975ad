"""Request facts from a Messages API request: route, headers and parsed JSON body.

Reads only structure (keys, `type` names, flags): no message text is ever copied into the facts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from zdr.catalog.schema import Catalog
from zdr.policy.facts import RequestFacts

MAX_NAME = 64
MAX_DEPTH = 12


def route_surface(path: str) -> str | None:
    """The surface a route belongs to (before key kind and Claude Code signals), or None."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    if path == "/v1/messages":
        return "messages"
    if path == "/v1/messages/count_tokens":
        return "count_tokens"
    if path == "/v1/messages/batches" or path.startswith("/v1/messages/batches/"):
        return "batches"
    if path == "/v1/files" or path.startswith("/v1/files/"):
        return "files"
    if path == "/v1/models" or path.startswith("/v1/models/"):
        return "models"
    return None


def _safe_name(value: object) -> str:
    text = value if isinstance(value, str) else type(value).__name__
    cleaned = "".join(ch if ch.isalnum() or ch in "_-." else "_" for ch in text[:MAX_NAME])
    return cleaned or "_"


def _is_claude_code(headers: Mapping[str, str], catalog: Catalog) -> bool:
    signals = catalog.claude_code
    agent = headers.get("user-agent", "")
    if any(agent.startswith(prefix) for prefix in signals.user_agent_prefixes):
        return True
    if headers.get("x-app", "") in signals.x_app_values:
        return True
    betas = (b.strip() for b in headers.get("anthropic-beta", "").split(","))
    return any(b.startswith(p) for b in betas for p in signals.beta_prefixes)


def _server_storage_feature(path: str, catalog: Catalog) -> str | None:
    path = path.split("?", 1)[0]
    for prefix in catalog.claude_code.server_storage_paths:
        if path == prefix or path.startswith(prefix + "/"):
            return "claude_code_feedback" if "feedback" in prefix else "claude_code_remote_session"
    return None


def surface_of(path: str, headers: Mapping[str, str], key_kind: str, catalog: Catalog) -> str | None:
    if key_kind == "console":
        return "console"
    if key_kind == "consumer":
        return "consumer"
    if _server_storage_feature(path, catalog) is not None:
        return "claude_code_enterprise" if key_kind == "enterprise_seat" else "claude_code_api"
    surface = route_surface(path)
    if surface in ("messages", "count_tokens"):
        if key_kind == "enterprise_seat":
            return "claude_code_enterprise"
        if surface == "messages" and _is_claude_code(headers, catalog):
            return "claude_code_api"
    return surface


class _Walker:
    """Collects feature names from content blocks, to a bounded depth."""

    def __init__(self, features: set[str]) -> None:
        self.features = features

    def blocks(self, value: Any, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            return
        if isinstance(value, list):
            for item in value:
                self.blocks(item, depth + 1)
        elif isinstance(value, dict):
            self.block(value, depth)

    def block(self, block: dict[str, Any], depth: int) -> None:
        add = self.features.add
        if "cache_control" in block:
            add("prompt_caching")
        kind = block.get("type")
        source = block.get("source")
        if isinstance(source, dict):
            source_type = source.get("type")
            if source_type == "file" or "file_id" in source:
                add("files")
            elif kind == "document" and (
                source.get("media_type") == "application/pdf" or source_type == "url"
            ):
                add("pdf")
        if kind == "container_upload" or "file_id" in block:
            add("files")
        citations = block.get("citations")
        if isinstance(citations, dict) and citations.get("enabled"):
            add("citations")
        if kind in ("mcp_tool_use", "mcp_tool_result"):
            add("mcp_connector")
        for nested in ("content", "source"):
            inner = block.get(nested)
            if isinstance(inner, list):
                self.blocks(inner, depth + 1)


def _tool_features(tools: Any, catalog: Catalog, features: set[str], unknown: set[str]) -> None:
    if not isinstance(tools, list):
        return
    for tool in tools:
        if not isinstance(tool, dict):
            continue
        if "cache_control" in tool:
            features.add("prompt_caching")
        if tool.get("strict") is True:
            features.add("structured_outputs")
        callers = tool.get("allowed_callers")
        if isinstance(callers, list) and any(
            isinstance(c, str) and c.startswith("code_execution") for c in callers
        ):
            features.add("code_execution")
        tool_type = tool.get("type")
        if tool_type is None or tool_type == "custom":
            continue
        feature = catalog.feature_for_tool_type(tool_type) if isinstance(tool_type, str) else None
        if feature is None:
            unknown.add(f"tool:{_safe_name(tool_type)}")
        else:
            features.add(feature)


def body_features(body: Mapping[str, Any], catalog: Catalog) -> tuple[set[str], set[str]]:
    features: set[str] = set()
    unknown: set[str] = set()
    _tool_features(body.get("tools"), catalog, features, unknown)
    if body.get("output_format") is not None:
        features.add("structured_outputs")
    output_config = body.get("output_config")
    if isinstance(output_config, dict) and output_config.get("format") is not None:
        features.add("structured_outputs")
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive"):
        features.add("thinking")
    if body.get("mcp_servers"):
        features.add("mcp_connector")
    container = body.get("container")
    if isinstance(container, dict) and container.get("skills"):
        features.add("agent_skills")
    elif container:
        features.add("code_execution")
    context = body.get("context_management")
    if isinstance(context, dict):
        for edit in context.get("edits") or ():
            kind = edit.get("type", "") if isinstance(edit, dict) else ""
            if isinstance(kind, str) and kind.startswith("compact"):
                features.add("compaction")
            else:
                features.add("context_editing")
    if "inference_geo" in body:
        features.add("inference_geo")
    if "cache_control" in body:
        features.add("prompt_caching")
    walker = _Walker(features)
    walker.blocks(body.get("system"))
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                walker.blocks(message.get("content"))
    requests = body.get("requests")
    if isinstance(requests, list):
        for item in requests:
            params = item.get("params") if isinstance(item, dict) else None
            if isinstance(params, dict):
                inner, inner_unknown = body_features(params, catalog)
                features |= inner
                unknown |= inner_unknown
    return features, unknown


SURFACE_FEATURES = {"count_tokens": "token_counting", "batches": "batches", "files": "files"}


def extract_facts(
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: Mapping[str, Any] | None,
    key_kind: str,
    catalog: Catalog,
) -> RequestFacts:
    """Facts of one request. `headers` must have lower-case names."""
    surface = surface_of(path, headers, key_kind, catalog) or "unknown"
    features: set[str] = set()
    unknown: set[str] = set()
    if body is not None:
        features, unknown = body_features(body, catalog)
    route = route_surface(path)
    if route in SURFACE_FEATURES:
        features.add(SURFACE_FEATURES[route])
    storage = _server_storage_feature(path, catalog)
    if storage is not None:
        features.add(storage)
    model = body.get("model") if body is not None else None
    if route == "models":
        parts = path.split("?", 1)[0].rstrip("/").split("/")
        model = parts[3] if len(parts) > 3 else None
    browser = "origin" in headers or (
        headers.get("anthropic-dangerous-direct-browser-access", "").lower() == "true"
    )
    return RequestFacts(
        surface=surface,
        features=frozenset(features),
        model=_safe_name(model) if isinstance(model, str) else None,
        browser_access=browser,
        unknown_features=frozenset(unknown),
        method=method.upper(),
        route=route or "unknown",
    )
