"""Producers that are hostile or careless, over the real broker and database.

Proves: a vendor that writes another producer's CloudEvents source and id (phone-bridge's
`<call>:answered`, or the same careless source and sequence number as another vendor) cannot make
that producer's event a repeat the router drops.
"""

from __future__ import annotations

from datetime import UTC, datetime

from frontdesk.common.cloudevents import encode
from frontdesk.common.contracts import (
    CallAnswered,
    CallReceived,
    Event,
    vendor_events_topic,
)
from frontdesk.testing.helpers import send_events, send_raw, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess

from .test_call_router_vendors import _call_row, _closed_clinic, _vendor_ready

BRIDGE = "frontdesk/phone-bridge"


async def _send_as(bootstrap: str, event: Event, source: str, event_id: str, topic: str | None = None) -> None:
    record = encode(event, source=source, event_id=event_id, topic=topic)
    await send_raw(bootstrap, [(record.topic, record.key, record.value, record.headers)])


def _call(clinic_id: str) -> CallReceived:
    return CallReceived(call_id=uid("call"), clinic_id=clinic_id, received_at=datetime.now(UTC), caller_token=uid("t"))


def _answer(call: CallReceived, kind: str, by: str, clinic_id: str | None = None) -> CallAnswered:
    return CallAnswered(
        call_id=call.call_id,
        clinic_id=clinic_id or call.clinic_id,
        answered_at=datetime.now(UTC),
        answered_by_kind=kind,  # type: ignore[arg-type]
        answered_by_id=by,
    )


async def _with_vendor(stack: LocalStack, *calls: CallReceived) -> None:
    for call in calls:
        await _call_row(stack, call.call_id, lambda c: c["status"] == "with_vendor")


async def test_a_vendor_cannot_make_another_producers_event_a_repeat(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    vendor_a, vendor_b = uid("vend-ia"), uid("vend-ib")
    clinic_a = await _closed_clinic(stack, router, vendor_a)
    clinic_b = await _closed_clinic(stack, router, vendor_b)
    await _vendor_ready(stack, vendor_a)
    await _vendor_ready(stack, vendor_b)
    call_a, call_b, call_c, call_d = _call(clinic_a), _call(clinic_b), _call(clinic_b), _call(clinic_a)
    await send_events(stack.bootstrap, [call_a, call_b, call_c, call_d])
    await _with_vendor(stack, call_a, call_b, call_c, call_d)

    # Vendor A answers its own call under phone-bridge's source and the id phone-bridge gives the
    # answer of call B: applied (it is A's own answer), but it claims nothing of phone-bridge's.
    own = _answer(call_a, "answering_service", vendor_a)
    await _send_as(stack.bootstrap, own, BRIDGE, f"{call_b.call_id}:answered", vendor_events_topic(vendor_a))
    await _call_row(stack, call_a.call_id, lambda c: c["status"] == "answered")
    # Phone-bridge then reports that a receptionist answered call B: not a repeat, applied.
    await _send_as(stack.bootstrap, _answer(call_b, "receptionist", "rec-1"), BRIDGE, f"{call_b.call_id}:answered")
    row = await _call_row(stack, call_b.call_id, lambda c: c["status"] == "answered")
    assert (row["answered_by_kind"], row["answered_by_id"]) == ("receptionist", "rec-1")

    # Two vendors whose systems both number their events 1, 2, ... under the same source.
    careless = (
        (_answer(call_d, "answering_service", vendor_a), vendor_a),
        (_answer(call_c, "answering_service", vendor_b), vendor_b),
    )
    for answer, vendor in careless:
        await _send_as(stack.bootstrap, answer, "answering-desk", "1", vendor_events_topic(vendor))
    for answer, vendor in careless:
        row = await _call_row(stack, answer.call_id, lambda c: c["status"] == "answered")
        assert row["answered_by_id"] == vendor
