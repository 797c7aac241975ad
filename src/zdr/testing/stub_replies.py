"""What the stand-in upstream says in one turn: the reply text and, at most, one tool call.

Plain API clients get an echo of the last user text and a call of the first custom tool they
offer (tests rely on that). Claude Code gets answers it can use: it offers a dozen tools on every
request (Agent, Bash, Edit, ...) and wraps the prompt in `<system-reminder>` blocks, so for it the
stand-in echoes only the user's own words, calls a tool only when asked to, and after a tool
result says what the tool returned. Asking for a tool call (any client; Claude Code passes it
with `ANTHROPIC_CUSTOM_HEADERS`):

    x-stub-tool-call: NAME {"json": "input"}     call tool NAME (if offered) with that input
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

CLAUDE_CODE_BETA_PREFIX = "claude-code-"
CLAUDE_CODE_SYSTEM_PREFIX = "x-anthropic-billing-header:"    # its first system block
SYSTEM_REMINDER = "<system-reminder>"
DEFAULT_TOOL_INPUT: dict[str, Any] = {"query": "stand-in"}


@dataclass(frozen=True, slots=True)
class ToolCall:
    name: str
    input: dict[str, Any] = field(default_factory=dict)


def is_claude_code(headers: Mapping[str, str], body: Mapping[str, Any]) -> bool:
    """A request from Claude Code: it names a `claude-code-*` beta, or (when a gateway held the
    beta back) its system prompt opens with the CLI's billing block."""
    betas = headers.get("anthropic-beta", "")
    if any(b.strip().startswith(CLAUDE_CODE_BETA_PREFIX) for b in betas.split(",")):
        return True
    system = _blocks(body.get("system"))
    first = system[0].get("text") if system else None
    return isinstance(first, str) and first.startswith(CLAUDE_CODE_SYSTEM_PREFIX)


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, list):
        return [b for b in content if isinstance(b, dict)]
    return []


def _last_message(body: Mapping[str, Any]) -> dict[str, Any]:
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    return last if isinstance(last, dict) else {}


def tool_result_of(body: Mapping[str, Any]) -> str | None:
    """The text of the tool results in the last turn, or None when it carries none."""
    results = [b for b in _blocks(_last_message(body).get("content"))
               if b.get("type") == "tool_result"]
    if not results:
        return None
    texts: list[str] = []
    for result in results:
        texts.extend(b["text"] for b in _blocks(result.get("content"))
                     if isinstance(b.get("text"), str))
    return " ".join(t.strip() for t in texts)


def prompt_of(body: Mapping[str, Any]) -> str:
    """The user's own words in the last user turn that has any (reminders left out)."""
    for message in reversed(body.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        words = [b["text"].strip() for b in _blocks(message.get("content"))
                 if b.get("type") == "text" and isinstance(b.get("text"), str)
                 and not b["text"].lstrip().startswith(SYSTEM_REMINDER)]
        words = [w for w in words if w]
        if words:
            return " ".join(words)
    return ""


def claude_code_reply(body: Mapping[str, Any]) -> str:
    result = tool_result_of(body)
    if result is not None:
        return f"The tool said: {result[:2000]}"
    prompt = prompt_of(body)
    return f"You said: {prompt[:2000]}" if prompt else "Hello from the stand-in upstream."


def requested_tool_call(headers: Mapping[str, str], body: Mapping[str, Any]) -> ToolCall | None:
    """The call `x-stub-tool-call` asks for, if that tool is offered and the last turn is not
    already its result (so a tool loop ends after one call)."""
    knob = headers.get("x-stub-tool-call", "").strip()
    if not knob or tool_result_of(body) is not None:
        return None
    name, _, raw_input = knob.partition(" ")
    offered = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
    if name not in offered:
        return None
    try:
        tool_input = orjson.loads(raw_input) if raw_input.strip() else {}
    except orjson.JSONDecodeError:
        return None
    return ToolCall(name, tool_input if isinstance(tool_input, dict) else {})


def input_json_parts(call: ToolCall) -> tuple[str, str]:
    """The tool input as two `input_json_delta` fragments, as the API streams it."""
    text = orjson.dumps(call.input).decode()
    middle = len(text) // 2
    return text[:middle], text[middle:]
