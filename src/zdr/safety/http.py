"""A served moderation model behind an OpenAI-compatible server (e.g. Llama Guard 3 on vLLM).

    classifier = "zdr.safety.http:HttpModerationClassifier?url=http://127.0.0.1:8000&model=meta-llama/Llama-Guard-3-1B"

The exchange goes to `POST {url}/v1/chat/completions` as a user turn and an assistant turn; the
model answers `safe`, or `unsafe` and a line of category codes (`S1,S10`). Each code becomes a
category scored 1.0 (others 0.0); the usual per-category thresholds then label them. Calls are
blocking — the pipeline runs them in its worker threads. A failure raises `ModerationFailed`,
whose message names the status or error type only, never the text or the server's body.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import Any

from zdr.errors import UpstreamError
from zdr.safety.classifier import ClassificationResult, check_thresholds, label_scores

# Llama Guard 3's hazard taxonomy (MLCommons), code → category name.
LLAMA_GUARD_CATEGORIES: dict[str, str] = {
    "S1": "violent_crimes",
    "S2": "non_violent_crimes",
    "S3": "sex_crimes",
    "S4": "child_sexual_exploitation",
    "S5": "defamation",
    "S6": "specialized_advice",
    "S7": "privacy",
    "S8": "intellectual_property",
    "S9": "indiscriminate_weapons",
    "S10": "hate",
    "S11": "self_harm",
    "S12": "sexual_content",
    "S13": "elections",
    "S14": "code_interpreter_abuse",
}
UNKNOWN_CATEGORY = "other"


class ModerationFailed(UpstreamError):
    """The moderation server could not be reached or answered something unreadable."""


class HttpModerationClassifier:
    """Calls a moderation model served with the OpenAI chat-completions API."""

    def __init__(
        self,
        url: str,
        model: str = "llama-guard",
        *,
        thresholds: Mapping[str, float] | None = None,
        timeout: float | str = 10.0,
        api_key: str | None = None,
        categories: Mapping[str, str] | None = None,
    ) -> None:
        self._categories = dict(categories or LLAMA_GUARD_CATEGORIES)
        names = (*self._categories.values(), UNKNOWN_CATEGORY)
        check_thresholds(names, thresholds or {})
        self._thresholds = {**dict.fromkeys(names, 0.5), **(thresholds or {})}
        self._endpoint = url.rstrip("/") + "/v1/chat/completions"
        self._model = model
        self._timeout = float(timeout)
        self._api_key = api_key
        self.name = f"http:{model}"[:80]
        self.version = "1"

    def classify(self, input_text: str, output_text: str) -> ClassificationResult:
        verdict = self._ask(self._request_body(input_text, output_text))
        scores = dict.fromkeys(self._thresholds, 0.0)
        for code in parse_verdict(verdict):
            scores[self._categories.get(code, UNKNOWN_CATEGORY)] = 1.0
        return ClassificationResult(
            self.name, self.version, scores, label_scores(scores, self._thresholds))

    def _request_body(self, input_text: str, output_text: str) -> bytes:
        messages = [{"role": "user", "content": input_text}]
        if output_text:
            messages.append({"role": "assistant", "content": output_text})
        body = {"model": self._model, "messages": messages, "max_tokens": 32, "temperature": 0}
        return json.dumps(body).encode()

    def _ask(self, body: bytes) -> str:
        headers = {"content-type": "application/json"}
        if self._api_key:
            headers["authorization"] = f"Bearer {self._api_key}"
        request = urllib.request.Request(  # noqa: S310 - the URL is operator configuration
            self._endpoint, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                payload: Any = json.loads(response.read())
        except urllib.error.HTTPError as error:
            error.close()       # its body is the server's; never read, never repeated
            raise ModerationFailed(f"moderation server answered HTTP {error.code}") from None
        except (OSError, ValueError) as error:
            raise ModerationFailed(
                f"moderation server unreachable or unreadable ({type(error).__name__})") from None
        try:
            content = payload["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ModerationFailed(
                "moderation server answered without choices[0].message") from None
        if not isinstance(content, str):
            raise ModerationFailed("moderation server answered a non-text message")
        return content


def parse_verdict(text: str) -> tuple[str, ...]:
    """`safe` → (); `unsafe\\nS1,S10` → ("S1", "S10"); `unsafe` alone → ("unspecified",)."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        raise ModerationFailed("moderation server answered an empty verdict")
    head = lines[0].lower()
    if head == "safe":
        return ()
    if head != "unsafe":
        raise ModerationFailed("moderation verdict is neither 'safe' nor 'unsafe'")
    codes = tuple(code.strip().upper() for line in lines[1:] for code in line.split(",")
                  if code.strip())
    return codes or ("unspecified",)
