"""Logs cannot carry content; metrics labels come from closed sets."""

import orjson
import pytest

from zdr.observability import AccessLog, GatewayMetrics, make_logger
from zdr.testing.logcapture import CapturedLines

CANARY = "ZDRCANARY-LOG-0123456789abcdef"


@pytest.mark.parametrize("make", [make_logger, AccessLog], ids=["structlog", "access"])
def test_keys_outside_the_allow_list_are_dropped(make):
    lines = CapturedLines()
    make(lines).info("exchange", request_id="req_1", prompt=CANARY, body={"x": CANARY},
                     status=200, headers=[CANARY])
    record = orjson.loads(lines.lines[-1])
    assert CANARY not in lines.text()
    assert record["request_id"] == "req_1" and record["status"] == 200
    assert record["dropped_keys"] == 3
    assert record["level"] == "info" and record["timestamp"].endswith("Z")


def test_allowed_keys_with_non_scalar_values_are_dropped_or_cut():
    lines = CapturedLines()
    make_logger(lines).info("x", org_id={"nested": CANARY}, surface="s" * 500)
    record = lines.records[-1]
    assert "org_id" not in record and len(record["surface"]) == 120


def test_metrics_render_only_closed_labels():
    metrics = GatewayMetrics()
    metrics.observe("messages", "ok", "zero", 200, 0.01, 0.001)
    metrics.observe("messages", "rejected", "zero", 400, 0.001, None)
    text = metrics.render().decode()
    assert 'surface="messages"' in text and 'status_class="4xx"' in text
    assert "zdr_gateway_in_flight 0.0" in text
