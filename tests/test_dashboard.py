"""The Grafana dashboard (deploy/grafana/zdr-gateway.json) asks only for metrics the gateway
exports, under the names and labels it exports them with."""

from __future__ import annotations

import json
import re
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from zdr.observability import GatewayMetrics
from zdr.safety.pipeline import SafetyMetrics

DASHBOARD = Path(__file__).parents[1] / "deploy" / "grafana" / "zdr-gateway.json"
SUFFIXES = ("_bucket", "_total", "_sum", "_count")


def exported() -> dict[str, set[str]]:
    """Every metric family of /metrics, with its labels."""
    metrics = GatewayMetrics()
    safety = SafetyMetrics(metrics.registry)
    safety.classified.labels("false")       # labelled families show once they have a child
    safety.errors.labels("classify")
    metrics.track_write_queue(lambda: 0)
    metrics.observe("messages", "ok", "zero", 200, 0.01, 0.001)
    families: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            families.setdefault(sample.name, set()).update(sample.labels)
    return families


def test_every_query_names_an_exported_metric_and_its_labels() -> None:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    families = exported()
    queries = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    assert len(queries) >= 10
    for query in queries:
        for name, labels in re.findall(r"(zdr_[a-z_]+)(?:\{([^}]*)\})?", query):
            assert name in families, f"{name} is not exported"
            for label in re.findall(r"([a-z_]+)=~?\"", labels):
                assert label in families[name] | {"instance"}, f"{name} has no label {label}"
