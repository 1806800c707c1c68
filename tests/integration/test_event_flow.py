"""The walking skeleton over the real broker and database: each service consumes, commits, emits.

Proves: a record from a plain producer flows through; a malformed record lands on the DLQ with its
reason and the next record is still processed; a record delivered twice has its side effect once.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from frontdesk.common.contracts import AppointmentRequested, CallReceived, VisitCompleted
from frontdesk.testing.helpers import query, send_events, send_raw, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap


async def test_record_from_a_plain_producer_flows_through(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    # Headers and JSON written by hand, as a non-Python client (kcat, Java) would: no code of ours.
    call_id = uid("call")
    body = {
        "call_id": call_id,
        "clinic_id": "test-always-open",
        "received_at": datetime.now(UTC).isoformat(),
        "caller_token": "tok-plain",
        "intent": "new_patient",
    }
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_source", b"urn:phone-system:test"),
        ("ce_type", b"call.received"),
        ("ce_time", datetime.now(UTC).isoformat().encode()),
        ("content-type", b"application/json"),
    ]
    async with EventTap(stack.bootstrap, ["call.routed"]) as tap:
        await send_raw(stack.bootstrap, [("call.received", b"test-always-open", json.dumps(body).encode(), headers)])
        [routed] = await tap.wait_for(lambda e: getattr(e.data, "call_id", None) == call_id)
    assert routed.data.target_kind == "pool"  # type: ignore[attr-defined]
    assert routed.data.target_id == "test-desk"  # type: ignore[attr-defined]
    assert routed.source == "frontdesk/call-router"


async def test_after_hours_call_goes_to_the_answering_service(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    call = CallReceived(
        call_id=uid("call"), clinic_id="test-never-open", received_at=datetime.now(UTC), caller_token="tok-1"
    )
    async with EventTap(stack.bootstrap, ["call.routed"]) as tap:
        [event_id] = await send_events(stack.bootstrap, [call])
        [routed] = await tap.wait_for(lambda e: getattr(e.data, "call_id", None) == call.call_id)
    assert (routed.data.target_kind, routed.data.target_id) == ("answering_service", "test-vendor-2")  # type: ignore[attr-defined]
    # The routed event continues the trace of the call that caused it.
    assert routed.trace.trace_id != "" and routed.id != event_id


async def test_malformed_records_go_to_the_dlq_with_a_reason_and_the_next_is_processed(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    key = b"test-always-open"  # same key, same partition: the good record sits behind the bad ones
    good = CallReceived(
        call_id=uid("call"), clinic_id="test-always-open", received_at=datetime.now(UTC), caller_token="tok-2"
    )
    base = [
        ("ce_specversion", b"1.0"),
        ("ce_source", b"tests"),
        ("ce_type", b"call.received"),
        ("content-type", b"application/json"),
    ]
    bad_json = ("call.received", key, b"{not json", [*base, ("ce_id", uid("bad").encode())])
    bad_schema = (
        "call.received",
        key,
        json.dumps({"call_id": "x", "clinic_id": "y"}).encode(),
        [*base, ("ce_id", uid("bad").encode())],
    )
    bad_version = (
        "call.received",
        key,
        good.model_dump_json().encode(),
        [*base, ("ce_id", uid("bad").encode()), ("ce_dataschema", b"urn:frontdesk:schema:call.received:99")],
    )
    no_headers = ("call.received", key, good.model_dump_json().encode(), [])
    async with EventTap(stack.bootstrap, ["call.received.dlq", "call.routed"]) as tap:
        await send_raw(stack.bootstrap, [bad_json, bad_schema, bad_version, no_headers])
        await send_events(stack.bootstrap, [good])
        await tap.wait_for(lambda e: getattr(e.data, "call_id", None) == good.call_id)
        await tap.settle(0.5)
    # Every group that consumes call.received (call-router, console) dead-letters its own copy.
    router = b"frontdesk.call-router"
    dead = [r for r in tap.raw if r.topic == "call.received.dlq" and dict(r.headers)["dlq_consumer_group"] == router]
    reasons = {r.offset: dict(r.headers)["dlq_reason"].decode() for r in dead}
    ours = [dict(r.headers) for r in dead]
    assert len(dead) >= 4, reasons
    joined = " | ".join(reasons.values())
    assert "not JSON" in joined
    assert "schema violation" in joined and "caller_token: missing" in joined
    assert "unsupported version 99" in joined
    assert "missing CloudEvents headers" in joined
    for headers in ours:
        assert headers["dlq_source_topic"] == b"call.received"
        assert headers["dlq_consumer_group"] == router
    # The dead letter keeps the original record whole.
    assert any(r.value == b"{not json" for r in dead)


async def test_a_record_delivered_twice_has_its_side_effect_once(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    request = AppointmentRequested(
        request_id=uid("req"),
        patient_id=uid("pat"),
        clinic_id="test-always-open",
        provider_id="dr-test-0",
        appointment_type="checkup",
        starts_at=datetime(2030, 1, 7, 15, tzinfo=UTC),
        ends_at=datetime(2030, 1, 7, 15, 30, tzinfo=UTC),
    )
    from frontdesk.common.cloudevents import encode

    record = encode(request, source="tests/redelivery")
    raw = (record.topic, record.key, record.value, record.headers)
    async with EventTap(stack.bootstrap, ["appointment.booked", "appointment.rejected"]) as tap:
        # The same record twice (same ce_source + ce_id), then the same request under a new event id.
        await send_raw(stack.bootstrap, [raw, raw])
        await send_events(stack.bootstrap, [request])
        await tap.wait_for(lambda e: getattr(e.data, "request_id", None) == request.request_id)
        await tap.settle(2.0)
    outcomes = tap.matching(lambda e: getattr(e.data, "request_id", None) == request.request_id)
    assert [e.type for e in outcomes] == ["appointment.booked"]
    rows = await query(
        stack.database_url("scheduler"),
        "SELECT count(*) AS n FROM appointments WHERE request_id = $1",
        request.request_id,
    )
    assert rows[0]["n"] == 1


async def test_overlapping_requests_book_once_and_reject_the_other(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    start = datetime(2030, 2, 4, 14, tzinfo=UTC)
    requests = [
        AppointmentRequested(
            request_id=uid("req"),
            patient_id=uid("pat"),
            clinic_id="test-always-open",
            provider_id="dr-test-1",
            appointment_type="checkup",
            starts_at=start + timedelta(minutes=m),
            ends_at=start + timedelta(minutes=m + 30),
        )
        for m in (0, 15, 30)  # the middle one overlaps both; the last one touches the first back to back
    ]
    ids = {r.request_id for r in requests}
    async with EventTap(stack.bootstrap, ["appointment.booked", "appointment.rejected"]) as tap:
        await send_events(stack.bootstrap, requests)
        outcomes = await tap.wait_for(lambda e: getattr(e.data, "request_id", None) in ids, count=3)
    by_request = {e.data.request_id: e for e in outcomes}  # type: ignore[attr-defined]
    assert by_request[requests[0].request_id].type == "appointment.booked"
    assert by_request[requests[2].request_id].type == "appointment.booked"
    rejected = by_request[requests[1].request_id]
    assert rejected.type == "appointment.rejected"
    assert rejected.data.reason == "slot_taken"  # type: ignore[attr-defined]


async def test_a_completed_visit_gets_one_check_in_and_one_review_request(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    visit = VisitCompleted(
        visit_id=uid("visit"),
        patient_id=uid("pat"),
        clinic_id="test-always-open",
        provider_id="dr-test-2",
        completed_at=datetime(2030, 3, 5, 21, 30, tzinfo=UTC),
    )
    # reviews schedules its request at visit time (review.requested follows once followup has sent it).
    async with EventTap(stack.bootstrap, ["followup.scheduled", "review.scheduled"]) as tap:
        await send_events(stack.bootstrap, [visit, visit])  # sent twice under two event ids
        # One review request, and followup's plan: a check-in and a recall.
        await tap.wait_for(lambda e: getattr(e.data, "visit_id", None) == visit.visit_id, count=3)
        await tap.settle(2.0)
    found = tap.matching(lambda e: getattr(e.data, "visit_id", None) == visit.visit_id)
    [review] = [e for e in found if e.type.startswith("review.")]  # exactly one, though the visit came twice
    assert review.type == "review.scheduled"
    assert review.data.send_at == visit.completed_at + timedelta(hours=2)  # type: ignore[attr-defined]
    plans = sorted((e for e in found if e.type == "followup.scheduled"), key=lambda e: e.data.kind)  # type: ignore[attr-defined]
    assert [p.data.kind for p in plans] == ["check_in", "recall"]  # type: ignore[attr-defined]
    # 21:30 UTC is 16:30 in New York: the check-in is the next local day at 10:00 local (15:00 UTC).
    assert plans[0].data.due_at == datetime(2030, 3, 6, 15, 0, tzinfo=UTC)  # type: ignore[attr-defined]
