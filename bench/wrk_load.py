"""Drive `wrk` (a compiled load generator, Debian package `wrk`) for a fixed count and a time cap.

wrk only knows durations, so the generated Lua script counts responses per thread, stops its
thread at its share of the count and prints `DONE` (flushed); once every thread has said so, this
module sends SIGINT, which makes wrk finish early and print its summary (as one JSON line, also
from the script). The few milliseconds between the last response and the signal count in the
elapsed time, so keep runs longer than a second.

wrk measures latency to the last byte of each response; it cannot see the first byte of a stream,
so time to first byte is measured by `loadgen.py` instead.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from loadgen import require_loopback

LUA = r"""
wrk.method = "POST"
{headers}
local f = io.open("{body}", "rb"); wrk.body = f:read("*a"); f:close()
local quota = {quota}
local seen = 0
local bad = 0
function response(status, headers, body)
  seen = seen + 1
  if status ~= 200 then bad = bad + 1 end
  if seen == quota then io.write("DONE\n"); io.flush(); wrk.thread:stop() end
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{{"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"mean_us":%.1f,' ..
    '"socket_errors":%d,"non2xx":%d,"bytes":%d}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.mean, e.connect + e.read + e.write + e.timeout, e.status,
    summary.bytes))
end
"""


def wrk_path(install: bool = True) -> str | None:
    """The wrk binary; installs Debian's package when missing and we may (root, apt-get)."""
    found = shutil.which("wrk")
    if found or not install or not shutil.which("apt-get"):
        return found
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    install_wrk = ["apt-get", "install", "-y", "-q", "wrk"]
    for command in (install_wrk, ["apt-get", "update", "-q"], install_wrk):
        if shutil.which("wrk"):
            break
        subprocess.run(command, env=env, capture_output=True, check=False, timeout=600)
    return shutil.which("wrk")


def _lua_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def run_wrk(
    wrk: str,
    url: str,
    body: bytes,
    headers: dict[str, str],
    concurrency: int,
    requests: int,
    time_cap: float,
    threads: int = 2,
) -> dict[str, Any]:
    """Run wrk; returns requests, elapsed_s, rps, p50/p90/p99/mean in ms, errors, capped."""
    require_loopback(url)
    threads = max(1, min(threads, concurrency))
    quota = max(1, requests // threads)
    with tempfile.TemporaryDirectory(prefix="zdr-bench-wrk-") as folder:
        body_file = Path(folder) / "body.json"
        body_file.write_bytes(body)
        header_lines = "\n".join(
            f'wrk.headers["{_lua_string(k)}"] = "{_lua_string(v)}"' for k, v in headers.items()
        )
        script = Path(folder) / "load.lua"
        script.write_text(
            LUA.format(headers=header_lines, body=_lua_string(str(body_file)), quota=quota)
        )
        command = [
            wrk,
            f"-t{threads}",
            f"-c{concurrency}",
            f"-d{max(1, round(time_cap))}s",
            "--timeout",
            f"{max(2, round(time_cap))}s",
            "-s",
            str(script),
            url,
        ]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        lines: list[str] = []
        finished = threading.Event()

        def read() -> None:
            assert process.stdout is not None
            done = 0
            for line in process.stdout:
                lines.append(line)
                if line.strip() == "DONE":
                    done += 1
                    if done == threads:
                        finished.set()
                        process.send_signal(signal.SIGINT)
            finished.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        finished.wait(time_cap + 30)
        try:
            process.wait(timeout=time_cap + 30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        reader.join(timeout=5)
        stderr = process.stderr.read() if process.stderr else ""
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
    summary = next((json.loads(line) for line in lines if line.startswith("{")), None)
    if summary is None:
        raise RuntimeError(f"wrk printed no summary: {''.join(lines)[-300:]} {stderr[-300:]}")
    done_threads = sum(1 for line in lines if line.strip() == "DONE")
    elapsed = summary["duration_us"] / 1e6
    return {
        "ok": summary["requests"] - summary["non2xx"],
        "errors": summary["socket_errors"] + summary["non2xx"],
        "elapsed_s": round(elapsed, 3),
        "rps": round((summary["requests"] - summary["non2xx"]) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": summary["p50_us"] / 1000,
        "p90_ms": summary["p90_us"] / 1000,
        "p99_ms": summary["p99_us"] / 1000,
        "mean_ms": round(summary["mean_us"] / 1000, 3),
        "bytes": summary["bytes"],
        "capped": done_threads < threads,
        "tool": "wrk",
    }
