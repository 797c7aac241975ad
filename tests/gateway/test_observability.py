"""Logs cannot carry content; metrics labels come from closed sets."""

import asyncio

import orjson
import pytest

from zdr.observability import FLUSH_SECONDS, AccessLog, GatewayMetrics, make_logger
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


EXCHANGE_FIELDS = dict(
    request_id="req_1", org_id="org_1", workspace_id=None, key_prefix="sk-zdr-1",
    surface="messages", status=200, outcome="ok", retention="zero", zdr="applied",
    model_class="sonnet", stream=True, input_tokens=11, output_tokens=20, duration_ms=4,
    ttfb_ms=None)


def test_the_exchange_line_is_the_line_the_processors_render():
    fast, slow = CapturedLines(), CapturedLines()
    AccessLog(fast).exchange(**EXCHANGE_FIELDS)
    AccessLog(slow).info("exchange", **EXCHANGE_FIELDS)
    one, other = fast.records[-1], slow.records[-1]
    assert one.pop("timestamp").endswith("Z") and other.pop("timestamp").endswith("Z")
    assert one == other == {**EXCHANGE_FIELDS, "event": "exchange", "level": "info"}


def test_the_exchange_line_cuts_long_values_and_drops_non_scalars():
    lines = CapturedLines()
    AccessLog(lines).exchange(**{**EXCHANGE_FIELDS, "org_id": CANARY * 10,
                                 "model_class": {"nested": CANARY}})
    record = lines.records[-1]
    assert len(record["org_id"]) == 120 and "model_class" not in record
    assert record["dropped_keys"] == 1 and CANARY * 5 not in lines.text()


def observations(metrics):
    metrics.observe("messages", "ok", "zero", 200, 0.004, 0.002)
    metrics.observe("messages", "ok", "zero", 201, 0.3, None)
    metrics.observe("messages", "ok", "zero", 200, 100.0, 50.0)      # past the last bound
    metrics.observe("messages", "rejected", "zero", 400, 0.0005, 0.0005)


def rendered(metrics):
    return sorted(line for line in metrics.render().decode().splitlines()
                  if line.startswith("zdr_gateway_") and "_created" not in line)


def test_metrics_tallied_on_the_event_loop_render_as_if_each_was_observed():
    direct = GatewayMetrics()
    observations(direct)        # no running loop: added at once

    async def on_the_loop():
        batched = GatewayMetrics()
        observations(batched)
        return batched

    batched = asyncio.run(on_the_loop())
    assert rendered(batched) == rendered(direct)
    assert 'zdr_gateway_requests_total{outcome="ok",retention="zero",status_class="2xx",' \
           'surface="messages"} 3.0' in rendered(direct)


def test_tallied_metrics_reach_prometheus_within_the_flush_interval_without_a_scrape():
    async def on_the_loop():
        metrics = GatewayMetrics()
        metrics.observe("messages", "ok", "zero", 200, 0.004, 0.002)
        child = metrics.requests.labels("messages", "ok", "zero", "2xx")
        assert child._value.get() == 0.0        # tallied, not yet added
        await asyncio.sleep(FLUSH_SECONDS + 0.2)
        return child._value.get()

    assert asyncio.run(on_the_loop()) == 1.0
