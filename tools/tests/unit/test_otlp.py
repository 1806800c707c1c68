"""Spans leave over OTLP/HTTP when an endpoint is configured, and the receiver stand-in the
tracing integration test relies on reads them back with their parent links."""

from __future__ import annotations

import pytest

from frontdesk.common import tracing
from frontdesk.common.cloudevents import TraceContext
from frontdesk.tools.otlp import OtlpReceiver


def test_spans_are_exported_over_otlp_when_an_endpoint_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    incoming = TraceContext.new()
    with OtlpReceiver() as receiver:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        tracing.configure("scheduler")
        with tracing.span("appointment.requested process", incoming) as work:
            emitted = tracing.publish("appointment.booked", work, "appointment.booked")
        tracing.shutdown()  # flushes the batch
        spans = {s.name: s for s in receiver.spans}
    process, create = spans["appointment.requested process"], spans["appointment.booked create"]
    assert (process.service, process.trace_id) == ("scheduler", incoming.trace_id)
    assert (process.span_id, process.parent_span_id) == (work.span_id, incoming.span_id)
    assert (create.span_id, create.parent_span_id) == (emitted.span_id, work.span_id)
    assert create.attributes["messaging.destination.name"] == "appointment.booked"
