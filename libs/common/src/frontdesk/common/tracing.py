"""Traces (OpenTelemetry): one span per unit of work, continued from service to service by the
records' W3C `traceparent` header.

Flow: a record, a timer or an HTTP command carries a traceparent -> `span()` starts the unit of
work's span as its child -> every event the work emits gets a producer span, child of the work's
span (`publish()`), whose context is the event's traceparent -> the next service's span is its child.
So `call.received` -> call-router's span -> `call.routed` and the vendor's hand-over, and
`visit.completed` -> followup's and reviews' spans -> what they emit, form one trace.

Spans are exported over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT (or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set, batched (OTEL_BSP_* tune the batches). Otherwise only
their contexts are made, real ids that logs and records carry, without the spans themselves: an
OpenTelemetry span costs more than the rest of emitting its event (profiled on the scheduler's
booking), and nobody would read it. Attributes name event types, topics and ids, never
patient data.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from .cloudevents import TraceContext

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
Attributes = dict[str, str | int]

_provider: TracerProvider | None = None
_tracer: trace.Tracer | None = None
_recording = False  # the spans go somewhere (an OTLP endpoint, a test's processor): make them


def configure(service: str, processor: SpanProcessor | None = None) -> TracerProvider:
    """Make spans as `service` from now on; export them over OTLP if an endpoint is configured.
    `processor` (tests: an in-memory exporter's) receives every span too."""
    global _provider, _tracer, _recording
    shutdown()
    provider = TracerProvider(resource=Resource.create({"service.name": service, "service.namespace": "frontdesk"}))
    exporting = any(os.environ.get(name) for name in ENDPOINT_VARIABLES)
    if exporting:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    if processor is not None:
        provider.add_span_processor(processor)
    _provider, _tracer = provider, provider.get_tracer(__name__)
    _recording = exporting or processor is not None
    return provider


def shutdown() -> None:
    """Export what is batched and stop (graceful shutdown)."""
    global _provider, _tracer, _recording
    if _provider is not None:
        _provider.shutdown()
        _provider = _tracer = None
    _recording = False


def _current_tracer() -> trace.Tracer:
    """The configured tracer; before `configure` (tools, tests), one that makes spans and drops them."""
    global _provider, _tracer
    if _tracer is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": "frontdesk"}))
        _tracer = _provider.get_tracer(__name__)
    return _tracer


def _context_of(parent: TraceContext | None) -> otel_context.Context:
    if parent is None:
        return otel_context.Context()  # a new trace
    remote = SpanContext(
        int(parent.trace_id, 16), int(parent.span_id, 16), is_remote=True, trace_flags=TraceFlags(int(parent.flags, 16))
    )
    return trace.set_span_in_context(NonRecordingSpan(remote))


def _trace_context(span: trace.Span) -> TraceContext:
    ctx = span.get_span_context()
    return TraceContext(f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}", f"{int(ctx.trace_flags):02x}")


@contextmanager
def span(
    name: str, parent: TraceContext | None, kind: SpanKind = SpanKind.INTERNAL, attributes: Attributes | None = None
) -> Iterator[TraceContext]:
    """A span for a unit of work, child of `parent` (a new trace if None); yields its context, which
    is what the work's emitted events and timers descend from. An exception is recorded on it. (Not
    made the current span: nothing here reads it, and attaching it costs on every record.)"""
    if not _recording:
        yield parent.child() if parent else TraceContext.new()
        return
    current = _current_tracer().start_span(name, context=_context_of(parent), kind=kind, attributes=attributes)
    try:
        yield _trace_context(current)
    except Exception as exc:
        current.record_exception(exc)
        current.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}"))
        raise
    finally:
        current.end()


def publish(event_type: str, parent: TraceContext, topic: str) -> TraceContext:
    """The producer span of one emitted event, child of the work that emits it: its context is the
    record's traceparent. It ends at once; the outbox relay publishes the record after the commit."""
    if not _recording:
        return parent.child()
    attributes: Attributes = {
        "messaging.system": "kafka",
        "messaging.operation.type": "create",
        "messaging.destination.name": topic,
        "cloudevents.event_type": event_type,
    }
    current = _current_tracer().start_span(
        f"{event_type} create", context=_context_of(parent), kind=SpanKind.PRODUCER, attributes=attributes
    )
    current.end()
    return _trace_context(current)
