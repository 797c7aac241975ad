"""Organization names and references: what a name may be, how names compare, id or name.

A name is stored NFKC-normalised and trimmed. It may not hold control, format or other invisible
characters (Unicode categories Cc, Cf — every bidirectional control is Cf —, Co, Cs, Cn, Zl, Zp),
so two names that look alike on a screen or in a log line are the same name, and no name can
reorder the text around it. It may not look like an organization id (a UUID in any spelling), so
a reference is never ambiguous. Names compare by `name_key` (NFKC, case-folded, NFKC again):
"ACME", "acme" and the same in full-width letters are one name.

A reference to an organization is an `OrgId` or an `OrgName` — each looked up on its own column
only. A plain string (an admin API path, an older caller) is read by its shape: a UUID is an id,
anything else a name; names can never have that shape, so the two readings cannot meet.
"""

from __future__ import annotations

import unicodedata
import uuid

from zdr.errors import InvalidRequest
from zdr.store.tables import org_name_key

MAX_NAME = 200
# Invisible or text-direction-changing characters a name may not contain.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})


class OrgId(str):
    """An organization named by its id: looked up by id only."""

    __slots__ = ()


class OrgName(str):
    """An organization named by its name: looked up by name only."""

    __slots__ = ()


def looks_like_id(text: str) -> bool:
    """True for anything `uuid.UUID` reads (hyphens or not, braces, `urn:uuid:`, any case)."""
    try:
        uuid.UUID(text.strip())
    except ValueError:
        return False
    return True


def canonical_id(text: str) -> str | None:
    """The stored form of an id (`str(uuid)`), or None when `text` is not one."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        return None


def normalize_name(name: str) -> str:
    """The name to store, or `InvalidRequest` saying what to change (never echoing the name)."""
    text = unicodedata.normalize("NFKC", name).strip()
    if not text:
        raise InvalidRequest("an organization needs a name")
    if len(text) > MAX_NAME:
        raise InvalidRequest(f"an organization name has at most {MAX_NAME} characters")
    if any(unicodedata.category(char) in REFUSED_CATEGORIES for char in text):
        raise InvalidRequest("an organization name may not contain control, format or "
                             "text-direction characters")
    if looks_like_id(text):
        raise InvalidRequest("an organization name may not look like an organization id")
    return text


def name_key(name: str) -> str:
    """How names compare: two names with the same key are the same name."""
    return org_name_key(name)


def reference(ref: str) -> OrgId | OrgName:
    """`ref` as an id or a name: kept if already typed, else by its shape."""
    if isinstance(ref, (OrgId, OrgName)):
        return ref
    return OrgId(ref) if looks_like_id(ref) else OrgName(ref)
