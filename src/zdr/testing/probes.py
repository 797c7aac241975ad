"""Blocking one-call clients of a running gateway (urllib: no event loop, no extra dependency),
for tests and benchmarks that drive a deployment from outside.

- `retention_of(url, key)`: the `zdr-retention` header a short Messages request is answered with
  (what the gateway decided for the key's org right now);
- `admin_post(url, token, path, body)`: a POST to the admin API (`/admin/v1` + `path`).
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

PROBE = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 8,
                    "messages": [{"role": "user", "content": "probe"}]}).encode()


def retention_of(url: str, key: str, timeout: float = 20) -> str:
    """The retention label of a short Messages request with `key` (HTTPError unless 2xx)."""
    request = urllib.request.Request(  # noqa: S310 - the test's own gateway
        f"{url}/v1/messages", data=PROBE, method="POST", headers={
            "x-api-key": key, "anthropic-version": "2023-06-01",
            "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
        return str(answer.headers["zdr-retention"])


def admin_post(url: str, token: str, path: str, body: dict[str, Any],
               timeout: float = 30) -> int:
    """POST `body` (JSON) to the admin API at `path` as `token`; the status (HTTPError unless
    2xx)."""
    request = urllib.request.Request(  # noqa: S310 - the test's own gateway
        f"{url}/admin/v1{path}", data=json.dumps(body).encode(), method="POST",
        headers={"authorization": f"Bearer {token}", "content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as answer:  # noqa: S310
        return int(answer.status)
