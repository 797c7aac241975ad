"""Client-chosen identifiers in a ZDR organization's exchange record, kept as keyed hashes.

A request names things the client chose: a model id, and — when the policy refuses a request for
using what its catalog does not know — parameter keys, tool types and context-edit types
(`param:<key>`, `tool:<type>`, `context_edit:<type>`). Any of them may be free text, so for an
org whose ZDR is in force (or whose decision applies ZDR) the decision recorded with its
metadata names them by pseudonym only:

    h:<first 16 hex digits of HMAC-SHA256(key, name)>:<length of name>

Within one org the same name always gets the same pseudonym (operators can count and
correlate), and it cannot be read back without the org's key. Each org has its own key: with the
SQL store it is derived from the org's content data key (`zdr.store.crypto.Keyring
.identifier_key`), so two orgs' pseudonyms of one name differ and crypto-shredding an org (its
data key destroyed) leaves its pseudonyms unlinkable to any name; without the store, from a
random key of the process and the org id. When an org's key cannot be had (destroyed, or the
store unreachable) a random key of the process stands in: the record still names nothing in
clear. The org's key is read at most every `KEY_CACHE_SECONDS` (a database read, only when a
name must be hashed). Model ids the catalog knows (a `[[models]]` pattern matches,
case-insensitively) and the markers the policy writes itself stay as they are. The substitution
covers every place a decision carries them: the model, the feature names, the rule reasons and
the error message; the client's own error response still names them in clear.

The live exchange keeps its real decision (the response, the retention plan); only what is
recorded (`Exchange.metadata()`) carries this one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from zdr.catalog.schema import Catalog
from zdr.policy.decide import zdr_in_force
from zdr.policy.decision import Decision, PolicyError, RuleHit
from zdr.policy.extract import client_chosen
from zdr.policy.facts import Arrangements

MEMO_LIMIT = 4096
KEY_CACHE_SECONDS = 30.0
OrgKeys = Callable[[str], bytes]      # org id -> that org's pseudonym key (may raise)
# A name stands alone in a text: no name character before it, none after it (a full stop after
# it ends a sentence unless a name character follows).
_BEFORE = r"(?<![A-Za-z0-9_.\-:])"
_AFTER = r"(?![A-Za-z0-9_\-:]|\.[A-Za-z0-9_\-])"


class Pseudonyms:
    """`keys`: each org's key (`Keyring.identifier_key`), or a root key from which each org's
    is derived with its id."""

    def __init__(self, keys: bytes | OrgKeys, catalog: Catalog) -> None:
        if isinstance(keys, bytes):
            if len(keys) < 16:
                raise ValueError("the pseudonym key must have at least 16 bytes")
            root = keys
            keys = lambda org_id: derived_key(root, org_id)  # noqa: E731
        self._keys: OrgKeys = keys
        self._stand_in = secrets.token_bytes(32)       # when an org's key cannot be had
        self._catalog = catalog
        self._cached: dict[str, tuple[bytes, float]] = {}
        self._memo: dict[tuple[int, str], tuple[Decision, Decision]] = {}

    def key_of(self, org_id: str) -> bytes:
        now = time.monotonic()
        cached = self._cached.get(org_id)
        if cached is not None and cached[1] > now:
            return cached[0]
        try:
            key = self._keys(org_id)
        except Exception:  # noqa: BLE001 - destroyed or unreachable: unlinkable, never clear
            return derived_key(self._stand_in, org_id)
        if len(self._cached) >= MEMO_LIMIT:
            self._cached.clear()
        self._cached[org_id] = (key, now + KEY_CACHE_SECONDS)
        return key

    def of(self, name: str, org_id: str) -> str:
        digest = hmac.new(self.key_of(org_id), name.encode("utf-8", "surrogatepass"),
                          hashlib.sha256)
        return f"h:{digest.hexdigest()[:16]}:{len(name)}"

    def recorded(self, decision: Decision, arrangements: Arrangements, now: datetime,
                 org_id: str) -> Decision:
        """The decision to record for `org_id`: with pseudonyms for a ZDR org, else `decision`
        itself. (Orgs with the same arrangements share decisions: the memo is per org.)"""
        if decision.zdr == "none" and not zdr_in_force(arrangements, self._catalog, now):
            return decision
        memo_key = (id(decision), org_id)
        cached = self._memo.get(memo_key)
        if cached is not None and cached[0] is decision:
            return cached[1]
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()
        value = self._pseudonymized(decision, org_id)
        self._memo[memo_key] = (decision, value)     # keeps `decision` alive: ids stay unique
        return value

    def _pseudonymized(self, decision: Decision, org_id: str) -> Decision:
        tokens: dict[str, str] = {}
        model = decision.model
        if model is not None and not self.known_model(model):
            tokens[model] = self.of(model, org_id)
        for feature in decision.features:
            named = client_chosen(feature)
            if named is not None:
                prefix, name = named
                tokens[feature] = prefix + self.of(name, org_id)
        if not tokens:
            return decision
        names = "|".join(re.escape(t) for t in sorted(tokens, key=len, reverse=True))
        pattern = re.compile(f"{_BEFORE}(?:{names}){_AFTER}")

        def swap(text: str) -> str:
            return pattern.sub(lambda match: tokens[match.group(0)], text)

        error = decision.error
        return replace(
            decision,
            model=None if model is None else tokens.get(model, model),
            features=tuple(tokens.get(feature, feature) for feature in decision.features),
            rules=tuple(RuleHit(hit.id, swap(hit.reason)) for hit in decision.rules),
            error=None if error is None else PolicyError(error.status, error.type,
                                                         swap(error.message)),
        )

    def known_model(self, model: str) -> bool:
        """Whether a `[[models]]` pattern of the catalog matches the model id."""
        lowered = model.lower()
        return any(pattern.matches(lowered) for pattern in self._catalog.models)


def derived_key(root: bytes, org_id: str) -> bytes:
    """One org's pseudonym key from a root key (no store: the process's own random root)."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=b"zdr/client-identifiers/v2|" + org_id.encode()).derive(root)
