"""The SIP part of `make run SIP=1`: a real SIP call ringing a SIPp receptionist through Kamailio.

A demo clinic (`sip-demo`, open all week) whose desk is two SIPp phones, one nobody picks up and one
that answers after 2 s, and whose answering service is a SIPp phone that answers after 1.5 s.
Kamailio listens on udp 127.0.0.1:5070 and asks phone-bridge; one call is placed and its INVITE ->
200 OK printed; the rig keeps running for calls of your own until the stack stops.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from frontdesk.common.cloudevents import encode
from frontdesk.common.contracts import AgentStatusChanged, ClinicConfig
from frontdesk.common.kafka import make_producer

from .apply import publish
from .sip_rig import SIP_DIR, SipRig
from .stack import LocalStack

CLINIC_ID = "sip-demo"
PROXY_PORT = 5070


def _clinic(rig: SipRig) -> ClinicConfig:
    absent, desk, vendor = rig.phones
    return ClinicConfig.model_validate(
        {
            "clinic_id": CLINIC_ID,
            "name": "SIP Demo Clinic",
            "timezone": "America/Denver",
            "hours": {d: ["00:00-24:00"] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            "phone": {
                "answering_service": vendor.name,
                "vendors": [{"vendor_id": vendor.name, "answer_target_seconds": 6}],
                "receptionists": [{"receptionist_id": absent.name}, {"receptionist_id": desk.name}],
                "pools": [{"pool_id": "desk", "members": [absent.name, desk.name], "offer_timeout_seconds": 4}],
                "sip": {
                    "numbers": ["+15550100"],
                    "receptionists": {absent.name: absent.uri, desk.name: desk.uri},
                    "vendors": {vendor.name: vendor.uri},
                },
            },
        }
    )


async def _setup(stack: LocalStack, rig: SipRig) -> None:
    config = _clinic(rig)
    await publish(stack.bootstrap, [config])
    deadline = time.monotonic() + 60
    for name in ("call-router", "phone-bridge"):
        while CLINIC_ID not in await asyncio.to_thread(stack.service(name).known_clinics):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} never learned the SIP demo clinic")
            await asyncio.sleep(0.3)
    producer = make_producer(stack.bootstrap, client_id="frontdesk-sip-demo")
    await producer.start()
    try:
        for receptionist in config.phone.receptionists:  # the absent one first: the longest idle
            event = AgentStatusChanged(
                clinic_id=CLINIC_ID,
                receptionist_id=receptionist.receptionist_id,
                status="available",
                changed_at=datetime.now(UTC),
            )
            record = encode(event, source="frontdesk/sip-demo")
            await producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
            await asyncio.sleep(0.1)
    finally:
        await producer.stop()
    await asyncio.sleep(3)  # the vendor's topics and the presence reach the router


def start(stack: LocalStack) -> SipRig:
    """Start the rig, place one demo call, print what it measured; the caller stops the rig."""
    rig = SipRig(stack.state_dir / "sip", stack.bridge_sip_port, proxy_port=PROXY_PORT)
    rig.phone("desk-absent", "never_answers")
    rig.phone("desk-front", "answers", answer_after_ms=2000)
    rig.phone("sip-demo-answering", "answers", answer_after_ms=1500)
    rig.start_proxy()
    asyncio.run(_setup(stack, rig))
    print("\nSIP rig: Kamailio on udp 127.0.0.1:5070, asking phone-bridge where calls ring.")
    print("Calling +15550100 (desk-absent rings 4 s unanswered, then desk-front answers after 2 s)...", flush=True)
    result = rig.call("+15550100")
    measured = "no answer" if result.invite_to_200_ms is None else f"{result.invite_to_200_ms:.0f} ms"
    print(f"  INVITE -> 200 OK: {measured} (SIPp's measurement; the ring budget is 18 s)")
    print(
        "Place your own: sipp -sf "
        + str(SIP_DIR / "scenarios" / "caller.xml")
        + " -s +15550100 -m 1 -i 127.0.0.1 -p 5060 -mp 16000 -cp 18888 -nostdin -trace_rtt 127.0.0.1:5070"
    )
    print(f"Logs of Kamailio and the phones: {rig.workdir}")
    return rig
