"""Mixed traffic through the gateway with the official `anthropic` SDK, each request carrying a
unique input canary and asking the stand-in for an output with its own canary; some requests get
faults injected through the stand-in's knobs, or are refused by the policy on purpose."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import anthropic
from deployment import Org

from zdr.testing.canaries import new_canary

MODEL = "claude-haiku-4-5"
UPSTREAM_TIMEOUT_SECONDS = 1.5          # the gateway's read timeout in the suite (ZDR_ env)

# fault -> (weight, streamed, stand-in knobs)
FAULTS: dict[str, tuple[int, bool | None, dict[str, str]]] = {
    "none": (64, None, {}),
    "upstream_500": (4, None, {"x-stub-fail-status": "500"}),
    "upstream_529": (4, None, {"x-stub-fail-status": "529"}),
    "upstream_timeout": (3, False, {"x-stub-latency-ms": "2500"}),
    "stream_timeout": (3, True, {"x-stub-chunk-delay-ms": "2500", "x-stub-chunks": "2"}),
    "reset_mid_stream": (4, True, {"x-stub-disconnect-mid-stream": "1", "x-stub-chunks": "2"}),
    "error_mid_stream": (4, True, {"x-stub-fail-mid-stream": "1", "x-stub-chunks": "2"}),
    "client_disconnect": (4, True, {"x-stub-chunk-delay-ms": "150", "x-stub-chunks": "4"}),
    "policy_refusal": (4, False, {}),
}
STORE_FAILED_TEXT = "could not be stored"
BACKOFF = 0.3


@dataclass
class Result:
    org: str
    kind: str
    fault: str
    stream: bool
    canaries: tuple[str, str]
    ok: bool = False
    request_id: str | None = None
    error: str = ""
    store_failed: bool = False
    at: float = 0.0                  # monotonic time the answer ended
    retention: str = ""              # the answer's zdr-retention header, when there was one


@dataclass
class Tally:
    results: list[Result] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, result: Result) -> None:
        with self.lock:
            self.results.append(result)

    def canaries(self) -> list[str]:
        with self.lock:
            return [c for r in self.results for c in r.canaries]

    def count(self, **where: Any) -> int:
        with self.lock:
            return sum(all(getattr(r, k) == v for k, v in where.items()) for r in self.results)

    def faults(self) -> Counter[str]:
        with self.lock:
            return Counter(r.fault for r in self.results)


def _output(canary: str) -> str:
    """Two copies, so a stream split in two deltas still carries one whole canary in each."""
    return f"{canary} | {canary}"


def _refusal_request(org: Org) -> dict[str, Any]:
    """A request the policy must refuse for this org (nothing kept but metadata)."""
    if org.kind == "zdr":
        return {"extra_headers": {"origin": "https://app.example.com"}}     # browser, under ZDR
    return {"tools": [{"type": "web_search_20250305", "name": "web_search"}]}  # HIPAA: no BAA


def one_request(client: anthropic.Anthropic, org: Org, fault: str, stream: bool) -> Result:
    canary_in, canary_out = new_canary("IN"), new_canary("OUT")
    result = Result(org.name, org.kind, fault, stream, (canary_in, canary_out))
    knobs = dict(FAULTS[fault][2])
    knobs["x-stub-output"] = _output(canary_out)
    knobs.setdefault("x-stub-chunks", "2")
    params: dict[str, Any] = {
        "model": MODEL, "max_tokens": 64,
        "messages": [{"role": "user", "content": f"Please repeat {canary_in} back."}],
    }
    if fault == "policy_refusal":
        refusal = _refusal_request(org)
        knobs.update(refusal.pop("extra_headers", {}))
        params.update(refusal)
    params["extra_headers"] = knobs
    try:
        if stream:
            with client.messages.stream(**params) as events:
                if fault == "client_disconnect":
                    for event in events:
                        if event.type == "content_block_delta":
                            break                       # leave mid-stream: the client hangs up
                    result.error = "client left"
                    return result
                final = events.get_final_message()
                result.request_id = events.response.headers.get("request-id")
                result.retention = events.response.headers.get("zdr-retention", "")
        else:
            raw = client.messages.with_raw_response.create(**params)
            final = raw.parse()
            result.request_id = raw.headers.get("request-id")
            result.retention = raw.headers.get("zdr-retention", "")
        text = "".join(getattr(block, "text", "") for block in final.content)
        result.ok = canary_out in text and final.stop_reason is not None
        if not result.ok:
            result.error = "answer without the stand-in's output"
    except anthropic.APIStatusError as error:
        result.error = f"status {error.status_code}"
        result.retention = error.response.headers.get("zdr-retention", "")
        result.store_failed = STORE_FAILED_TEXT in str(error.message)
    except Exception as error:       # connection reset, refused (gateway killed), timeouts
        result.error = type(error).__name__
        result.store_failed = STORE_FAILED_TEXT in str(error)
    return result


def pick_fault(rng: random.Random, org: Org) -> tuple[str, bool]:
    names = list(FAULTS)
    fault = rng.choices(names, weights=[FAULTS[n][0] for n in names])[0]
    if fault == "policy_refusal" and org.kind not in ("zdr", "hipaa"):
        fault = "none"
    streamed = FAULTS[fault][1]
    return fault, rng.random() < 0.5 if streamed is None else streamed


def client_loop(url: str, orgs: list[Org], tally: Tally, stop: threading.Event, seed: int,
                max_requests: int, pause: float) -> None:
    """One client thread: up to `max_requests` requests, round-robin over the orgs."""
    rng = random.Random(seed)
    clients = {org.name: anthropic.Anthropic(
        api_key=org.key, base_url=url, max_retries=0,
        timeout=40.0) for org in orgs}
    try:
        for number in range(max_requests):
            if stop.is_set():
                break
            org = orgs[(seed + number) % len(orgs)]
            fault, stream = pick_fault(rng, org)
            result = one_request(clients[org.name], org, fault, stream)
            result.at = time.monotonic()
            tally.add(result)
            # The gateway is down (killed, restarting): back off instead of spinning.
            time.sleep(BACKOFF if result.error == "APIConnectionError" else pause)
    finally:
        for client in clients.values():
            client.close()
