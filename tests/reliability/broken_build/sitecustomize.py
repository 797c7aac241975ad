"""A deliberately broken build, for the suite to prove it goes red (never used outside tests).

Put this folder on PYTHONPATH and set ZDR_TEST_BREAK (read here, in the test harness, not by zdr):

- `log-bodies`: the gateway prints every request body to standard error — the "debug line left
  in" that leaks prompts into logs although logging of content is off;
- `store-zdr-content`: the gateway hands every allowed exchange to the retaining path, so ZDR
  requests get content rows — a fail-open write path.
"""

from __future__ import annotations

import os
import sys

BREAK = os.environ.get("ZDR_TEST_BREAK", "")


def _log_bodies() -> None:
    from zdr.gateway import app

    original = app.GatewayApp._read_body

    async def leaky_read_body(self, headers, receive):  # type: ignore[no-untyped-def]
        body = await original(self, headers, receive)
        sys.stderr.write(f"DEBUG request body: {body.decode('utf-8', 'replace')}\n")
        sys.stderr.flush()
        return body

    app.GatewayApp._read_body = leaky_read_body  # type: ignore[method-assign]


def _store_zdr_content() -> None:
    from zdr.gateway import app, recorders

    def retain_everything(decision, sink):  # type: ignore[no-untyped-def]
        return recorders.RetainingRecorder(sink)

    recorders.recorder_for = retain_everything
    app.recorder_for = retain_everything
    from zdr.store import records

    original_kept, original_expiry = records.kept, records.expiry

    def kept(meta, record_class):  # type: ignore[no-untyped-def]
        return True if record_class == "content" else original_kept(meta, record_class)

    def expiry(meta, record_class):  # type: ignore[no-untyped-def]
        if record_class == "content" and not meta.decision.keep["content"].kept:
            from datetime import timedelta
            return meta.started_at + timedelta(days=30)
        return original_expiry(meta, record_class)

    records.kept, records.expiry = kept, expiry


if BREAK == "log-bodies":
    _log_bodies()
elif BREAK == "store-zdr-content":
    _store_zdr_content()
