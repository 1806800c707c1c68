"""call-router over the real broker and database: a clinic's configuration changing while a call rings.

Proves: a configuration that removes the receptionist being rung, applied during the ring, leaves the
caller with a human: when the offer times out the call goes on by the new configuration (never to the
removed receptionist again) and reaches the answering vendor inside its budget, once.
"""

from __future__ import annotations

from datetime import timedelta

from frontdesk.common.contracts import ClinicConfig
from frontdesk.testing.helpers import send_events
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_call_router_lifecycle import ALL_WEEK, OUT, _call, _clinic, _of, _once, _present


def _without_r1(clinic_id: str) -> ClinicConfig:
    """The test clinic of test_call_router_lifecycle._clinic, receptionist r1 removed."""
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": "Router Test Clinic",
            "timezone": "America/New_York",
            "hours": ALL_WEEK,
            "phone": {
                "ring_seconds": 6,
                "rings": 8,
                "receptionists": [{"receptionist_id": "r2"}],
                "pools": [{"pool_id": "desk", "members": ["r2"], "offer_timeout_seconds": 4}],
                "answering_service": f"{clinic_id}-va",
                "secondary_answering_service": f"{clinic_id}-vb",
                "vendors": [
                    {"vendor_id": f"{clinic_id}-va", "answer_target_seconds": 20},
                    {"vendor_id": f"{clinic_id}-vb", "answer_target_seconds": 10},
                ],
            },
        }
    )


async def test_removing_the_receptionist_being_rung_moves_the_call_on_by_the_new_configuration(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    clinic_id = await _clinic(stack, router)
    await _present(stack, router, clinic_id, "r1")
    call = _call(clinic_id)
    async with EventTap(stack.bootstrap, OUT) as tap:
        await send_events(stack.bootstrap, [call])
        [offered] = await tap.wait_for(_of(call.call_id, "call.offered"), timeout=60)
        assert offered.data.target_id == "r1"  # type: ignore[attr-defined]
        await publish(stack.bootstrap, [_without_r1(clinic_id)])  # while r1's phone rings
        [overflowed] = await tap.wait_for(_of(call.call_id, "call.overflowed"), timeout=90)
        await tap.settle(2.0)
    offers = _once(tap.matching(_of(call.call_id, "call.offered")))
    assert [o.target_id for o in offers] == ["r1"]  # never offered to r1 again
    assert overflowed.data.vendor_id == f"{clinic_id}-va"  # type: ignore[attr-defined]
    assert overflowed.data.overflowed_at <= call.received_at + timedelta(seconds=48)  # type: ignore[attr-defined]
    assert len(_once(tap.matching(_of(call.call_id, "call.overflowed")))) == 1
