"""What a vendor asks for, over the real broker, call-router and scheduler (issue 16, item 3).

Proves: a vendor asks for an appointment on its own `vendor.<id>.events` (it may write no shared
topic); call-router passes a request for a clinic that names the vendor on to `appointment.requested`
(request id in the vendor's namespace) and the scheduler books it; a request for a clinic the vendor
does not serve, or one naming another vendor, is refused: dead-lettered on the vendor's own
`vendor.<id>.events.dlq` with the reason, and never reaches the scheduler.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx

from frontdesk.common.contracts import ClinicConfig, VendorAppointmentRequested, vendor_events_topic
from frontdesk.common.contracts.registry import dlq_topic
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_call_router_vendor_messages import _dead_letters, _vendor_topic_ready


def _config(clinic_id: str, vendor: str) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Vendor Request Clinic",
            "timezone": "America/Chicago",
            "hours": {d: ["00:00-23:59"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "phone": {"answering_service": vendor, "vendors": [{"vendor_id": vendor}]},
            "providers": [{"provider_id": f"{clinic_id}-dr"}],
        }
    )


async def _known_everywhere(services: list[ServiceProcess], clinic_ids: set[str]) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        for service in services:
            while True:
                listed = (await client.get(service.url + "/v1/clinics", headers=service.auth_headers)).json()
                if clinic_ids <= {c["clinic_id"] for c in listed}:
                    break
                assert time.monotonic() < deadline, f"{service.name} never learned the clinics"
                await asyncio.sleep(0.2)


def _request(clinic_id: str, vendor: str, hours_ahead: int) -> VendorAppointmentRequested:
    starts = (datetime.now(UTC) + timedelta(days=4, hours=hours_ahead)).replace(minute=0, second=0, microsecond=0)
    return VendorAppointmentRequested(
        request_id=uid("vreq"),
        vendor_id=vendor,
        clinic_id=clinic_id,
        patient_id=uid("pat"),
        provider_id=f"{clinic_id}-dr",
        appointment_type="consult",
        starts_at=starts,
        ends_at=starts + timedelta(minutes=30),
    )


async def test_issue16_item3_a_vendor_books_only_for_the_clinics_it_serves(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router, scheduler = running["call-router"], running["scheduler"]
    vendor_a, vendor_b = uid("vend-ra"), uid("vend-rb")
    clinic_a, clinic_b = uid("crq-a"), uid("crq-b")
    await publish(stack.bootstrap, [_config(clinic_a, vendor_a), _config(clinic_b, vendor_b)])
    await _known_everywhere([router, scheduler], {clinic_a, clinic_b})
    await _vendor_topic_ready(stack, vendor_a)
    await _vendor_topic_ready(stack, vendor_b)
    topic_a, topic_b = vendor_events_topic(vendor_a), vendor_events_topic(vendor_b)
    own = _request(clinic_a, vendor_a, 0)
    foreign = _request(clinic_a, vendor_b, 1)  # vendor B for clinic A, which names only vendor A
    posing = _request(clinic_a, vendor_a, 2)  # vendor A's name, on vendor B's topic
    async with (
        EventTap(stack.bootstrap, [dlq_topic(topic_a), dlq_topic(topic_b)]) as dlq,
        EventTap(stack.bootstrap, ["appointment.requested", "appointment.booked"]) as shared,
    ):
        [foreign_id, posing_id] = await send_events(stack.bootstrap, [foreign, posing], topic=topic_b)
        await send_events(stack.bootstrap, [own], topic=topic_a)
        [booked] = await shared.wait_for(
            lambda e: e.type == "appointment.booked" and getattr(e.data, "patient_id", None) == own.patient_id,
            timeout=60,
        )
        assert booked.data.request_id == f"vendor:{vendor_a}:{own.request_id}"  # type: ignore[attr-defined]
        assert booked.data.clinic_id == clinic_a  # type: ignore[attr-defined]
        reasons = await _dead_letters(dlq, [foreign_id, posing_id])
        assert "the vendor does not serve the clinic" in reasons[foreign_id]
        assert f"names vendor {vendor_a} on the topic of vendor {vendor_b}" in reasons[posing_id]
        await shared.settle(2.0)
        refused_patients = {foreign.patient_id, posing.patient_id}
        assert not shared.matching(lambda e: getattr(e.data, "patient_id", None) in refused_patients)
    booked_rows = await query(
        stack.database_url("scheduler"),
        "SELECT patient_id FROM appointments WHERE patient_id = ANY($1::text[])",
        [own.patient_id, *refused_patients],
    )
    assert [r["patient_id"] for r in booked_rows] == [own.patient_id]
