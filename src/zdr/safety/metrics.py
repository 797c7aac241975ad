"""`SafetyMetrics`: the safety pipeline's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SafetyMetrics:
    """The pipeline's Prometheus metrics, in the registry given (the gateway's) or one of their
    own. Labels come from closed sets only."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.sampled_out = Counter(
            "zdr_classifier_sampled_out",
            "Exchanges not classified because the classifier queue was full (result kept, "
            "no scores).", registry=self.registry)
        self.classified = Counter(
            "zdr_classifier_classified", "Exchanges classified, by outcome.", ("flagged",),
            registry=self.registry)
        self.skipped = Counter(
            "zdr_classifier_skipped", "Exchanges whose decision keeps no classifier result.",
            registry=self.registry)
        self.not_scored = Counter(
            "zdr_classifier_not_scored",
            "Exchanges whose result says part or all of them was not scored, by reason.",
            ("reason",), registry=self.registry)
        self.errors = Counter(
            "zdr_classifier_errors", "Classifier or sink failures.", ("stage",),
            registry=self.registry)
        self.queue_depth = Gauge(
            "zdr_classifier_queue_depth", "Exchanges waiting for the classifier.",
            registry=self.registry)
        self.seconds = Histogram(
            "zdr_classifier_seconds", "Time to classify one exchange.",
            buckets=(0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
            registry=self.registry)

    def value(self, name: str, **labels: str) -> float:
        """A sample's current value, e.g. `value("zdr_classifier_sampled_out_total")`."""
        return self.registry.get_sample_value(name, labels) or 0.0
