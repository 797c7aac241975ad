"""Client-chosen identifiers in a ZDR organization's exchange record, kept as keyed hashes.

A request names things the client chose: a model id, and — when the policy refuses a request for
using what its catalog does not know — parameter keys, tool types and context-edit types
(`param:<key>`, `tool:<type>`, `context_edit:<type>`). Any of them may be free text, so for an
org whose ZDR is in force (or whose decision applies ZDR) the decision recorded with its
metadata names them by pseudonym only:

    h:<first 16 hex digits of HMAC-SHA256(key, name)>:<length of name>

The same name always gets the same pseudonym (operators can count and correlate), and it cannot
be read back without the key, which is derived from the master key
(`zdr.store.crypto.identifier_key`). Model ids the catalog knows (a `[[models]]` pattern matches,
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
from dataclasses import replace
from datetime import datetime

from zdr.catalog.schema import Catalog
from zdr.policy.decide import zdr_in_force
from zdr.policy.decision import Decision, PolicyError, RuleHit
from zdr.policy.extract import client_chosen
from zdr.policy.facts import Arrangements

MEMO_LIMIT = 4096
# A name stands alone in a text: no name character before it, none after it (a full stop after
# it ends a sentence unless a name character follows).
_BEFORE = r"(?<![A-Za-z0-9_.\-:])"
_AFTER = r"(?![A-Za-z0-9_\-:]|\.[A-Za-z0-9_\-])"


class Pseudonyms:
    def __init__(self, key: bytes, catalog: Catalog) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonym key must have at least 16 bytes")
        self._key = key
        self._catalog = catalog
        self._memo: dict[int, tuple[Decision, Decision]] = {}

    def of(self, name: str) -> str:
        digest = hmac.new(self._key, name.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"h:{digest.hexdigest()[:16]}:{len(name)}"

    def recorded(self, decision: Decision, arrangements: Arrangements, now: datetime) -> Decision:
        """The decision to record: with pseudonyms for a ZDR org, else `decision` itself."""
        if decision.zdr == "none" and not zdr_in_force(arrangements, self._catalog, now):
            return decision
        cached = self._memo.get(id(decision))
        if cached is not None and cached[0] is decision:
            return cached[1]
        if len(self._memo) >= MEMO_LIMIT:
            self._memo.clear()
        value = self._pseudonymized(decision)
        self._memo[id(decision)] = (decision, value)     # keeps `decision` alive: ids stay unique
        return value

    def _pseudonymized(self, decision: Decision) -> Decision:
        tokens: dict[str, str] = {}
        model = decision.model
        if model is not None and not self.known_model(model):
            tokens[model] = self.of(model)
        for feature in decision.features:
            named = client_chosen(feature)
            if named is not None:
                prefix, name = named
                tokens[feature] = prefix + self.of(name)
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
