"""Does a pass-through truly stream, and does it cancel the upstream request when its client
hangs up? Run against a proxy whose upstream is a slow stand-in (`zdr stub-upstream
--chunk-delay-ms 100`: a 20-delta stream lasts about 2 s):

    .venv/bin/python bench/ceiling_check.py --proxy http://127.0.0.1:9100 \
        --stub http://127.0.0.1:8788 [--chunk-delay-ms 100]

- streams: the first text delta reaches the client in less than a third of the whole stream's
  time, and the deltas arrive spread over it (not in one burst at the end).
- cancels: the client reads the first delta and closes its connection; when the stream would
  long have ended, the stand-in has not completed it (its `GET /stub/stats` `streams_completed`
  did not move): the proxy dropped the upstream request instead of reading it to the end.

Prints one JSON line: {"streams": bool, "cancels": bool, "first_delta_s", "total_s", ...}.
Plain sockets, loopback only.
"""

from __future__ import annotations

import argparse
import json
import socket
import struct
import time
import urllib.request
from urllib.parse import urlsplit

from loadgen import require_loopback

BODY = json.dumps(
    {
        "model": "claude-sonnet-4-5",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "Count slowly."}],
    }
).encode()
DELTA = b"content_block_delta"


def _request(url: str) -> bytes:
    parts = urlsplit(url)
    head = (
        f"POST /v1/messages HTTP/1.1\r\nhost: {parts.netloc}\r\n"
        "content-type: application/json\r\nanthropic-version: 2023-06-01\r\n"
        f"x-api-key: sk-ant-check\r\ncontent-length: {len(BODY)}\r\n\r\n"
    )
    return head.encode() + BODY


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 80), timeout=10)
    sock.sendall(_request(url))
    return sock


def streams_completed(stub: str) -> int:
    with urllib.request.urlopen(stub + "/stub/stats", timeout=5) as response:
        return int(json.load(response)["streams_completed"])


def check_streaming(proxy: str) -> dict[str, object]:
    started = time.monotonic()
    sock = _connect(proxy)
    seen = b""
    arrivals: list[float] = []  # when the count of deltas seen went up
    count = 0
    with sock:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            seen += data
            now = seen.count(DELTA)
            if now > count:
                arrivals.append(time.monotonic() - started)
                count = now
            if b"message_stop" in seen:
                break
    total = time.monotonic() - started
    first = arrivals[0] if arrivals else total
    return {
        "streams": bool(arrivals) and first < total / 3 and len(arrivals) >= 5,
        "first_delta_s": round(first, 3),
        "total_s": round(total, 3),
        "delta_reads": len(arrivals),
    }


def check_cancel(proxy: str, stub: str, wait: float) -> dict[str, object]:
    before = streams_completed(stub)
    sock = _connect(proxy)
    seen = b""
    with sock:
        while DELTA not in seen:
            data = sock.recv(65536)
            if not data:
                break
            seen += data
        # hang up hard (RST), as a client that died would
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(wait)  # long past the stream's end, had it been read to the end
    after = streams_completed(stub)
    return {"cancels": DELTA in seen and after == before, "completed_after_hang_up": after - before}


def check(proxy: str, stub: str, chunk_delay_ms: float = 100.0) -> dict[str, object]:
    require_loopback(proxy)
    require_loopback(stub)
    stream_seconds = 20 * chunk_delay_ms / 1000
    result = check_streaming(proxy)
    result.update(check_cancel(proxy, stub, stream_seconds + 1.5))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--proxy", required=True)
    parser.add_argument("--stub", required=True)
    parser.add_argument("--chunk-delay-ms", type=float, default=100.0)
    args = parser.parse_args()
    print(json.dumps(check(args.proxy, args.stub, args.chunk_delay_ms)))


if __name__ == "__main__":
    main()
