"""HttpModerationClassifier against a stand-in OpenAI-compatible server speaking Llama Guard."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from zdr.safety.classifier import load_classifier
from zdr.safety.http import HttpModerationClassifier, ModerationFailed, parse_verdict

SECRET_BODY = "upstream error mentioning canary-body"


@dataclass
class StandIn:
    """A chat-completions server that answers like Llama Guard: `unsafe\\nS1,S10` when the
    conversation mentions "attack", `unsafe\\nS11` for "end it", else `safe`."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    mode: str = "guard"          # guard | error | no_choices | gibberish

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        if self.mode == "error":
            return web.Response(status=500, text=SECRET_BODY)
        if self.mode == "no_choices":
            return web.json_response({"id": "x", "choices": []})
        text = " ".join(message["content"] for message in body["messages"])
        if self.mode == "gibberish":
            verdict = "maybe"
        elif "attack" in text:
            verdict = "unsafe\nS1,S10"
        elif "end it" in text:
            verdict = "unsafe\nS11"
        else:
            verdict = "safe"
        return web.json_response(
            {"id": "chatcmpl-1", "object": "chat.completion",
             "choices": [{"index": 0, "message": {"role": "assistant", "content": verdict},
                          "finish_reason": "stop"}]})


@pytest.fixture
async def stand_in() -> AsyncIterator[tuple[StandIn, str]]:
    server = StandIn()
    app = web.Application()
    app.router.add_post("/v1/chat/completions", server.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield server, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def classify(classifier: HttpModerationClassifier, input_text: str, output_text: str) -> Any:
    # The classifier blocks (it runs in the pipeline's worker threads); keep the loop free.
    return await asyncio.to_thread(classifier.classify, input_text, output_text)


async def test_unsafe_verdict_becomes_labelled_categories(stand_in: tuple[StandIn, str]) -> None:
    server, url = stand_in
    classifier = HttpModerationClassifier(url, "llama-guard-3", api_key="k-123")
    result = await classify(classifier, "plan an attack on them", "I can't help with that.")
    assert result.flagged
    assert result.flagged_categories == ("hate", "violent_crimes")
    assert result.scores["self_harm"] == 0.0
    [body] = server.requests
    assert body["model"] == "llama-guard-3" and body["temperature"] == 0
    assert body["messages"] == [
        {"role": "user", "content": "plan an attack on them"},
        {"role": "assistant", "content": "I can't help with that."},
    ]
    assert server.headers[0]["Authorization"] == "Bearer k-123"


async def test_safe_verdict_flags_nothing_and_empty_output_sends_one_turn(
    stand_in: tuple[StandIn, str],
) -> None:
    server, url = stand_in
    result = await classify(HttpModerationClassifier(url), "how do I bake bread", "")
    assert not result.flagged and set(result.labels.values()) == {False}
    assert [m["role"] for m in server.requests[0]["messages"]] == ["user"]


async def test_thresholds_apply_to_the_served_model(stand_in: tuple[StandIn, str]) -> None:
    _, url = stand_in
    spec = f"zdr.safety.http:HttpModerationClassifier?url={url}&model=guard"
    classifier = load_classifier(spec)
    assert isinstance(classifier, HttpModerationClassifier)
    result = await classify(classifier, "I want to end it", "")
    assert result.flagged_categories == ("self_harm",)


@pytest.mark.parametrize(("mode", "message"), [
    ("error", "HTTP 500"),                           # the server's body is not repeated
    ("no_choices", "without choices[0].message"),
    ("gibberish", "neither 'safe' nor 'unsafe'"),
])
async def test_server_failures_raise_without_content(
    stand_in: tuple[StandIn, str], mode: str, message: str
) -> None:
    server, url = stand_in
    server.mode = mode
    with pytest.raises(ModerationFailed) as error:
        await classify(HttpModerationClassifier(url), "canary-input attack", "")
    assert message in error.value.message
    assert "canary" not in str(error.value) and error.value.__cause__ is None


async def test_unreachable_server_raises_moderation_failed() -> None:
    # A port that was just free: nothing listens there.
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    classifier = HttpModerationClassifier(f"http://127.0.0.1:{port}", timeout=2)
    with pytest.raises(ModerationFailed, match="unreachable or unreadable"):
        await classify(classifier, "canary-input", "")


@pytest.mark.parametrize(("verdict", "codes"), [
    ("safe", ()),
    ("  safe\n", ()),
    ("unsafe\nS1", ("S1",)),
    ("unsafe\nS1, s10", ("S1", "S10")),
    ("unsafe", ("unspecified",)),                     # no codes: counted under "other"
    ("UNSAFE\nS2\nS3", ("S2", "S3")),
])
def test_parse_verdict(verdict: str, codes: tuple[str, ...]) -> None:
    assert parse_verdict(verdict) == codes


@pytest.mark.parametrize("verdict", ["", "   ", "sure!", json.dumps({"safe": True})])
def test_parse_verdict_refuses_anything_else(verdict: str) -> None:
    with pytest.raises(ModerationFailed):
        parse_verdict(verdict)


async def test_an_unknown_code_is_labelled_other(stand_in: tuple[StandIn, str]) -> None:
    _, url = stand_in
    classifier = HttpModerationClassifier(url, categories={"S10": "hate"})
    result = await classify(classifier, "attack", "")
    assert result.flagged_categories == ("hate", "other")
