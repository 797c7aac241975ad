"""The byte forms a canary string can take where the system writes: the raw UTF-8 bytes, JSON
escapes, UTF-16, URL encoding, hex and base64 (at each of the three byte alignments), so content
that was re-encoded on its way to a log or a file is still found."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

MIN_CANARY_LENGTH = 8


def _base64_cores(raw: bytes) -> list[bytes]:
    """Base64 characters that depend only on `raw`, wherever `raw` starts in the encoded data."""
    cores = []
    for shift in range(3):
        encoded = base64.b64encode(bytes(shift) + raw)
        start = -(-8 * shift // 6)                 # first char not touched by the shift bytes
        end = 8 * (shift + len(raw)) // 6          # chars ending at or before raw's last bit
        if end - start >= MIN_CANARY_LENGTH:
            cores.append(encoded[start:end])
    return cores


def canary_forms(canary: str) -> dict[str, bytes]:
    """Form name → bytes to search for. Forms equal to an earlier one are left out."""
    if len(canary) < MIN_CANARY_LENGTH:
        raise ValueError(f"a canary must have at least {MIN_CANARY_LENGTH} characters")
    raw = canary.encode("utf-8")
    candidates: list[tuple[str, bytes]] = [
        ("utf-8", raw),
        ("json-escaped", json.dumps(canary)[1:-1].encode("ascii")),
        ("json-escaped-slash", json.dumps(canary)[1:-1].replace("/", "\\/").encode("ascii")),
        ("utf-16-le", canary.encode("utf-16-le")),
        ("utf-16-be", canary.encode("utf-16-be")),
        ("url-encoded", quote(canary, safe="").encode("ascii")),
        ("url-encoded-plus", quote(canary, safe="").replace("%20", "+").encode("ascii")),
        ("hex", raw.hex().encode("ascii")),
    ]
    candidates.extend((f"base64-{i}", core) for i, core in enumerate(_base64_cores(raw)))
    forms: dict[str, bytes] = {}
    for name, pattern in candidates:
        if pattern not in forms.values():
            forms[name] = pattern
    return forms
