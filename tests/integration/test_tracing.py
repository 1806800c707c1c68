"""Traces across services, through the real broker, read back from an OTLP receiver stand-in.

The services run with OTEL_EXPORTER_OTLP_ENDPOINT pointing at the receiver. A call's trace goes
call.received -> call-router's work -> call.routed and the hand-over to the vendor (call.overflowed
on the vendor's topic); a visit's goes visit.completed -> reviews' work -> its send timer ->
message.requested -> followup's work, and visit.completed -> followup's own work. Each link is
checked parent by parent, and the records' traceparent headers name the producer spans.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from frontdesk.common.cloudevents import Envelope, TraceContext
from frontdesk.common.contracts import CallReceived, ClinicConfig, Event, VisitCompleted
from frontdesk.testing.helpers import send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.otlp import OtlpReceiver, ReceivedSpan
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

TRACED = ("call-router", "followup", "reviews")
ENDPOINT = "OTEL_EXPORTER_OTLP_ENDPOINT"
WAIT = 90.0
PRODUCER, CONSUMER, INTERNAL = 4, 5, 1  # OTLP span kinds


@pytest.fixture(scope="module")
def receiver(services: dict[str, ServiceProcess]) -> Iterator[OtlpReceiver]:
    """The traced services restarted to export to a receiver; restarted as before afterwards."""
    settings = {"OTEL_BSP_SCHEDULE_DELAY": "200"}  # milliseconds: export soon after each span
    before = {name: {k: services[name].env.get(k) for k in (*settings, ENDPOINT)} for name in TRACED}
    with OtlpReceiver() as otlp:
        for name in TRACED:
            restart(services[name], {**settings, ENDPOINT: otlp.endpoint})
        try:
            yield otlp
        finally:
            for name in TRACED:
                restart(services[name], before[name])


def restart(proc: ServiceProcess, env: Mapping[str, str | None]) -> None:
    proc.stop()
    for key, value in env.items():
        if value is None:
            proc.env.pop(key, None)
        else:
            proc.env[key] = value
    proc.start()


def wait_child(otlp: OtlpReceiver, parent: str, service: str, name: str, topic: str | None = None) -> ReceivedSpan:
    """The span `name` of `service` whose parent is `parent` (and that wrote to `topic`, if given)."""

    def match(s: ReceivedSpan) -> bool:
        wrote = topic is None or s.attributes.get("messaging.destination.name") == topic
        return s.parent_span_id == parent and s.service == service and s.name == name and wrote

    return otlp.wait_for(match, timeout=WAIT)


async def test_a_call_s_trace_runs_from_call_received_to_the_vendor_hand_over(
    stack: LocalStack, services: dict[str, ServiceProcess], receiver: OtlpReceiver
) -> None:
    call = CallReceived(
        call_id=uid("call"), clinic_id="test-never-open", received_at=datetime.now(UTC), caller_token="tok-trace"
    )
    phone = TraceContext.new()  # the phone system's span that published call.received
    async with EventTap(stack.bootstrap, ["call.routed", "vendor.test-vendor-2.calls"]) as tap:
        await send_events(stack.bootstrap, [call], trace=phone)

        def mine(e: Envelope[Event]) -> bool:
            return getattr(e.data, "call_id", None) == call.call_id

        [routed] = await tap.wait_for(lambda e: e.type == "call.routed" and mine(e), timeout=WAIT)
        [handed] = await tap.wait_for(lambda e: e.type == "call.overflowed" and mine(e), timeout=WAIT)

    work = wait_child(receiver, phone.span_id, "call-router", "call.received process")
    assert work.trace_id == phone.trace_id and work.kind == CONSUMER
    assert work.attributes["messaging.destination.name"] == "call.received"
    routed_span = wait_child(receiver, work.span_id, "call-router", "call.routed create")
    vendor_topic = "vendor.test-vendor-2.calls"
    handed_span = wait_child(receiver, work.span_id, "call-router", "call.overflowed create", vendor_topic)
    assert routed_span.kind == handed_span.kind == PRODUCER
    # What the vendor reads continues the same trace, from the span that made the record.
    assert (routed.trace.trace_id, routed.trace.span_id) == (phone.trace_id, routed_span.span_id)
    assert (handed.trace.trace_id, handed.trace.span_id) == (phone.trace_id, handed_span.span_id)


def _open_zone() -> str:
    """A zone where it is now between 10:00 and 17:59, so that a review request may go out at once."""
    now = datetime.now(UTC)
    for offset in range(-11, 15):
        name = f"Etc/GMT{-offset:+d}" if offset else "Etc/UTC"
        if 10 <= now.astimezone(ZoneInfo(name)).hour < 18:
            return name
    raise AssertionError("no zone at office hours")  # pragma: no cover


@pytest.fixture(scope="module")
def clinic(stack: LocalStack, services: dict[str, ServiceProcess], receiver: OtlpReceiver) -> ClinicConfig:
    config = ClinicConfig.model_validate(
        {
            "clinic_id": uid("trace-clinic"),
            "name": "Tracing Test Clinic",
            "timezone": _open_zone(),
            "phone": {"front_desk_pool": "trace-desk", "answering_service": "trace-vendor"},
            "reviews": {"review_sites": [{"site": "google", "url": "https://g.page/r/trace/review"}]},
        }
    )
    asyncio.run(publish(stack.bootstrap, [config]))
    deadline = time.monotonic() + WAIT
    while not all(config.clinic_id in services[s].known_clinics() for s in ("followup", "reviews")):
        assert time.monotonic() < deadline, "the services never learned the test clinic"
        time.sleep(0.2)
    return config


async def test_a_visit_s_trace_runs_through_reviews_and_followup(
    stack: LocalStack, receiver: OtlpReceiver, clinic: ClinicConfig
) -> None:
    visit = VisitCompleted.model_validate(
        {
            "visit_id": uid("visit"),
            "patient_id": uid("pat"),
            "clinic_id": clinic.clinic_id,
            "provider_id": "dr-trace",
            "completed_at": datetime.now(UTC) - timedelta(hours=2, minutes=1),  # the request is due now
        }
    )
    ehr = TraceContext.new()
    await send_events(stack.bootstrap, [visit], trace=ehr)

    reviews_work = wait_child(receiver, ehr.span_id, "reviews", "visit.completed process")
    followup_work = wait_child(receiver, ehr.span_id, "followup", "visit.completed process")
    assert reviews_work.trace_id == followup_work.trace_id == ehr.trace_id
    # reviews' send timer, set by that work, fires in its trace and asks followup for the message.
    timer = wait_child(receiver, reviews_work.span_id, "reviews", "timer review.send")
    assert timer.kind == INTERNAL
    asked = wait_child(receiver, timer.span_id, "reviews", "message.requested create")
    sending = wait_child(receiver, asked.span_id, "followup", "message.requested process")
    assert sending.trace_id == ehr.trace_id and sending.kind == CONSUMER
