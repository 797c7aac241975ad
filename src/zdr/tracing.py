"""OpenTelemetry traces of exchanges: off by default, on with `otlp_traces_endpoint`.

One span per exchange, made when it ends (`ExchangeTracer.record`), named `zdr <surface>`, with
what the decision and the relay measured — rule ids, retention label, ZDR state, surface, model
class, status, outcome, stream, token counts, time to the upstream's first byte and the whole
duration — and ids that the logs carry too (request, org, workspace). Never content, a model
name, a path, a header or an error message: every attribute comes from a closed set or is a
number or a server-made id, so a span carries nothing a client wrote. No events, no recorded
exceptions; the resource is the service's name and version only.

Spans are exported in batches over OTLP/HTTP (protobuf) from a provider of the app's own (not
the process-global one), flushed at shutdown. Tests pass their own exporter.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind, Status, StatusCode

from zdr import __version__
from zdr.gateway.exchange import Exchange
from zdr.ports import ExchangeMetadata
from zdr.settings import Settings

SERVICE = "zdr-gateway"


class ExchangeTracer:
    def __init__(self, exporter: SpanExporter, *, batch: bool = True) -> None:
        resource = Resource({"service.name": SERVICE, "service.version": __version__})
        self.provider = TracerProvider(resource=resource)
        processor = BatchSpanProcessor(exporter) if batch else SimpleSpanProcessor(exporter)
        self.provider.add_span_processor(processor)
        self._tracer = self.provider.get_tracer("zdr.gateway")

    def record(self, ex: Exchange, meta: ExchangeMetadata) -> None:
        decision = ex.decision
        start = int(ex.started_at.timestamp() * 1e9)
        attributes: dict[str, Any] = {
            "zdr.request_id": meta.exchange_id,
            "zdr.org_id": meta.org_id,
            "zdr.surface": decision.surface,
            "zdr.model_class": decision.model_class,
            "zdr.retention": decision.retention_label,
            "zdr.state": decision.zdr,
            "zdr.rules": [rule.id for rule in decision.rules],
            "zdr.catalog_version": decision.catalog_version,
            "zdr.outcome": ex.outcome,
            "zdr.stream": ex.stream,
            "http.response.status_code": ex.status,
        }
        if meta.duration_ms is not None:
            attributes["zdr.duration_ms"] = meta.duration_ms
        if meta.workspace_id:
            attributes["zdr.workspace_id"] = meta.workspace_id
        if meta.ttfb_ms is not None:
            attributes["zdr.upstream.ttfb_ms"] = meta.ttfb_ms
        if meta.input_tokens is not None:
            attributes["zdr.input_tokens"] = meta.input_tokens
        if meta.output_tokens is not None:
            attributes["zdr.output_tokens"] = meta.output_tokens
        span = self._tracer.start_span(f"zdr {decision.surface}", kind=SpanKind.SERVER,
                                       start_time=start, attributes=attributes)
        if ex.outcome != "ok":
            span.set_status(Status(StatusCode.ERROR))
        span.end(end_time=start + int(ex.elapsed() * 1e9))

    async def stop(self) -> None:
        self.provider.shutdown()        # exports what is batched


def tracer_from_settings(settings: Settings, exporter: SpanExporter | None = None
                         ) -> ExchangeTracer | None:
    """The tracer `settings` ask for (an OTLP endpoint), the one a test's `exporter` makes, or
    None: tracing is off."""
    if exporter is not None:
        return ExchangeTracer(exporter, batch=False)
    if not settings.otlp_traces_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return ExchangeTracer(OTLPSpanExporter(endpoint=settings.otlp_traces_endpoint))
