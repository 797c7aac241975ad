"""CSRF protection: every POST carries the session's token in a hidden `csrf_token` field.

The token lives in the signed session cookie (so an attacker's page can neither read nor forge
it) and is compared in constant time. Every state-changing console route is a POST; a POST
without the right token is refused with 403 before its handler runs.
"""

from __future__ import annotations

import hmac

from zdr.console.sessions import Session

FIELD = "csrf_token"


def token_matches(session: Session | None, submitted: object) -> bool:
    if session is None or not isinstance(submitted, str) or not submitted:
        return False
    return hmac.compare_digest(session.csrf_token.encode(), submitted.encode())
