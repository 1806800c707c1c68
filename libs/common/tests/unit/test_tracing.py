"""Spans continue the records' traceparent: a unit of work is the child of the record that caused it,
and each event it emits is the child of the work, with that child's context as its traceparent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from frontdesk.common import tracing
from frontdesk.common.cloudevents import TraceContext, decode, encode
from frontdesk.common.contracts import CallReceived


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure("test-service", SimpleSpanProcessor(exporter))
    yield exporter
    tracing.shutdown()


def ids(span: ReadableSpan) -> tuple[str, str, str | None]:
    parent = f"{span.parent.span_id:016x}" if span.parent else None
    return f"{span.context.trace_id:032x}", f"{span.context.span_id:016x}", parent


def test_a_unit_of_work_is_the_child_of_the_record_and_its_events_the_work_s_children(
    spans: InMemorySpanExporter,
) -> None:
    incoming = TraceContext.new()
    with tracing.span("call.received process", incoming, SpanKind.CONSUMER) as work:
        emitted = tracing.publish("call.routed", work, "call.routed")
    assert work.trace_id == emitted.trace_id == incoming.trace_id
    assert len({incoming.span_id, work.span_id, emitted.span_id}) == 3
    by_name = {s.name: s for s in spans.get_finished_spans()}
    process, create = by_name["call.received process"], by_name["call.routed create"]
    assert ids(process) == (incoming.trace_id, work.span_id, incoming.span_id)
    assert ids(create) == (incoming.trace_id, emitted.span_id, work.span_id)
    assert process.kind is SpanKind.CONSUMER and create.kind is SpanKind.PRODUCER
    assert create.attributes is not None and create.attributes["messaging.destination.name"] == "call.routed"
    assert process.resource.attributes["service.name"] == "test-service"


def test_the_traceparent_of_an_emitted_event_names_its_producer_span(spans: InMemorySpanExporter) -> None:
    with tracing.span("work", None) as work:
        trace = tracing.publish("call.received", work, "call.received")
    event = CallReceived.model_validate(
        {"call_id": "c-1", "clinic_id": "k-1", "received_at": "2027-01-10T09:00:00+00:00", "caller_token": "t"}
    )
    record = encode(event, source="tests", trace=trace)
    assert decode(record.topic, record.value, record.headers).trace == trace
    [create] = [s for s in spans.get_finished_spans() if s.name == "call.received create"]
    assert ids(create)[1] == trace.span_id


def test_without_a_parent_a_new_trace_starts_and_failures_are_recorded(spans: InMemorySpanExporter) -> None:
    with pytest.raises(RuntimeError), tracing.span("timer ring_timeout", None) as work:
        raise RuntimeError("boom")
    [span] = spans.get_finished_spans()
    assert span.parent is None and ids(span)[0] == work.trace_id
    assert span.status.status_code is StatusCode.ERROR


def test_an_unsampled_parent_stays_unsampled_but_gets_real_ids(spans: InMemorySpanExporter) -> None:
    parent = TraceContext(TraceContext.new().trace_id, TraceContext.new().span_id, "00")
    with tracing.span("work", parent) as work:
        pass
    assert work.trace_id == parent.trace_id and work.span_id != parent.span_id and work.flags == "00"
    assert not spans.get_finished_spans()  # not recorded, not exported


def test_without_an_exporter_the_contexts_are_made_and_the_spans_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nobody would read the spans: the work and its events get real ids under their parent's trace
    and flags, and no OpenTelemetry span is made (one costs more than emitting its event)."""
    tracing.shutdown()

    def no_tracer() -> None:
        raise AssertionError("a span was made with nowhere to go")

    monkeypatch.setattr(tracing, "_current_tracer", no_tracer)
    incoming = TraceContext.new()
    with tracing.span("call.received process", incoming, SpanKind.CONSUMER) as work:
        emitted = tracing.publish("call.routed", work, "call.routed")
    assert work.trace_id == emitted.trace_id == incoming.trace_id
    assert len({incoming.span_id, work.span_id, emitted.span_id}) == 3
    assert work.flags == emitted.flags == incoming.flags
    with tracing.span("timer ring_timeout", None) as fresh:
        assert fresh.trace_id != incoming.trace_id and fresh.flags == "01"
    unsampled = TraceContext(incoming.trace_id, incoming.span_id, "00")
    with tracing.span("work", unsampled) as work:
        assert work.flags == "00" and tracing.publish("x", work, "x").flags == "00"
