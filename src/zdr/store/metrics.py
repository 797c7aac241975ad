"""Prometheus metrics of the store. Labels are record-class names only, never ids or content."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

PURGE_LAG = Gauge(
    "purge_lag_seconds",
    "Age past expiry of the oldest expired, unheld record still stored (0 when none).",
)
PURGED = Counter(
    "zdr_purged_records_total", "Records removed by purge, by record class.", ["record_class"],
)
PARTITIONS_DROPPED = Counter(
    "zdr_purged_partitions_total", "Expired day partitions dropped by purge (PostgreSQL).",
)
