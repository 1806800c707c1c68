"""Callback numbers over the real broker (issue 8): only on the vendor's own topic, sealed per vendor.

Proves: the telephony integration registers a caller's number (E.164, clinic-scoped token); a call
handed to a vendor carries it on `vendor.<id>.calls` sealed with that vendor's key and bound to the
call, while the shared topics, the router's database and its log never show the number; after the
vendor's key is rotated (router restarted with the new ring) the next call uses the new kid, and
both kids open while the old one is kept; a forgotten or expired number is not sent again, and the
prune timer deletes expired ones.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from datetime import UTC, datetime

import pytest

from frontdesk.common.cloudevents import decode
from frontdesk.common.contracts import CallOverflowed, CallReceived, ClinicConfig, vendor_calls_topic
from frontdesk.common.contracts.registry import all_topics
from frontdesk.common.sealing import Keyring, UnknownKey
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_call_router_vendors import _vendor_ready


async def _closed_clinic(stack: LocalStack, router: ServiceProcess, vendor: str) -> str:
    """A clinic that is never open (no hours): its calls go to `vendor` at once."""
    clinic_id = uid("crs")
    config = ClinicConfig.model_validate(
        {"clinic_id": clinic_id, "name": "Sealing Clinic", "timezone": "UTC", "phone": {"answering_service": vendor}}
    )
    await publish(stack.bootstrap, [config])
    deadline = time.monotonic() + 60
    while clinic_id not in router.known_clinics():
        assert time.monotonic() < deadline, "the router never learned the clinic"
        await asyncio.sleep(0.2)
    return clinic_id


def _with_keys(router: ServiceProcess, keyring: Keyring) -> ServiceProcess:
    """The router process with another FRONTDESK_SEALING_KEYS (same port, database and group)."""
    env = {**router.env, "FRONTDESK_SEALING_KEYS": keyring.to_json()}
    return ServiceProcess(router.name, router.state_dir, router.http_port, env, token=router.token)


def _call(clinic_id: str, caller_token: str) -> CallReceived:
    return CallReceived(
        call_id=uid("call"), clinic_id=clinic_id, received_at=datetime.now(UTC), caller_token=caller_token
    )


def _overflowed(tap: EventTap, call_id: str, topic: str) -> CallOverflowed:
    """The call.overflowed of `call_id` that the tap saw on `topic`."""
    found = []
    for record in tap.raw:
        if record.topic == topic:
            event = decode(record.topic, record.value, record.headers).data
            if isinstance(event, CallOverflowed) and event.call_id == call_id:
                found.append(event)
    assert len(found) == 1, (topic, call_id, found)
    return found[0]


async def _both_copies(tap: EventTap, call_id: str) -> None:
    """Wait for the call's call.overflowed on the shared topic and on the vendor's own."""
    await tap.wait_for(lambda e: isinstance(e.data, CallOverflowed) and e.data.call_id == call_id, count=2, timeout=60)


async def test_callback_number_travels_sealed_on_the_vendor_topic_only(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    normal = running["call-router"]
    vendor = uid("vend-seal")
    number = "+1415555" + f"{random.randrange(10_000):04d}"
    digits = number.removeprefix("+1").encode()
    clinic_id = await _closed_clinic(stack, normal, vendor)
    keyless = uid("vend-nokey")  # a vendor nobody configured a key for
    keyless_clinic = await _closed_clinic(stack, normal, keyless)
    await _vendor_ready(stack, vendor)
    await _vendor_ready(stack, keyless)
    topic, keyless_topic = vendor_calls_topic(vendor), vendor_calls_topic(keyless)
    shared = [t.name for t in all_topics()]

    ring1 = Keyring.from_json(stack.sealing_keys()).rotated(vendor, "k1")
    normal.stop()
    router = _with_keys(normal, ring1)
    try:
        router.start()
        async with router.client() as client:
            url = f"/v1/clinics/{clinic_id}/callers/"
            for bad in ("4155550123", "+1 415 555 0123", "+0155550123", ""):
                answer = await client.put(url + "tok-bad", json={"phone_number": bad})
                assert answer.status_code == 422, (bad, answer.text)
            other = {"Authorization": f"Bearer {stack.api_token(clinics=['another-clinic'])}"}
            refused = await client.put(url + "tok-x", json={"phone_number": number}, headers=other)
            assert refused.status_code == 403, refused.text
            caller, stranger = uid("tok"), uid("tok")
            registered = await client.put(url + caller, json={"phone_number": number})
            assert registered.status_code == 200, registered.text
            assert number not in registered.text
            assert datetime.fromisoformat(registered.json()["expires_at"]) > datetime.now(UTC)
            elsewhere = f"/v1/clinics/{keyless_clinic}/callers/{caller}"
            assert (await client.put(elsewhere, json={"phone_number": number})).status_code == 200

        async with EventTap(stack.bootstrap, [*shared, topic, keyless_topic]) as tap:
            first, unknown, unkeyed = (
                _call(clinic_id, caller),
                _call(clinic_id, stranger),
                _call(keyless_clinic, caller),
            )
            await send_events(stack.bootstrap, [first, unknown, unkeyed])
            for call in (first, unknown, unkeyed):
                await _both_copies(tap, call.call_id)

            # The vendor opens its copy with its own keys only; the callback is bound to this call.
            mine = _overflowed(tap, first.call_id, topic)
            assert mine.callback is not None and mine.callback.kid == "k1"
            vendor_ring = ring1.only([vendor])
            assert mine.callback_number(vendor_ring) == number
            assert _overflowed(tap, unknown.call_id, topic).callback is None  # no number on file
            assert _overflowed(tap, unkeyed.call_id, keyless_topic).callback is None  # no key: never in clear
            # The shared copy carries none, and no shared record shows the number anywhere.
            assert _overflowed(tap, first.call_id, "call.overflowed").callback is None
            for record in tap.raw:
                if record.topic not in (topic, keyless_topic):
                    blob = b"".join([record.value or b"", record.key or b"", *(v for _, v in record.headers)])
                    assert digits not in blob, record.topic

            # Rotation: the vendor gets k2 first, then the router seals with it (its own key rotates too).
            ring2 = ring1.rotated(vendor, "k2").rotated("call-router", "dev-2")
            router.stop()
            router = _with_keys(normal, ring2)
            router.start()
            second = _call(clinic_id, caller)  # registered under the router's old key, still on file
            await send_events(stack.bootstrap, [second])
            await _both_copies(tap, second.call_id)
            rotated = _overflowed(tap, second.call_id, topic)
            assert rotated.callback is not None and rotated.callback.kid == "k2"
            vendor_ring2 = ring2.only([vendor])
            assert rotated.callback_number(vendor_ring2) == mine.callback_number(vendor_ring2) == number
            with pytest.raises(UnknownKey, match="k2"):
                rotated.callback_number(vendor_ring)  # a vendor without k2 cannot open the new calls
            with pytest.raises(UnknownKey, match="k1"):
                mine.callback_number(vendor_ring2.retired(vendor, "k1"))  # once k1 is retired

            # At rest the router keeps only ciphertext, under its own key: the old one until registered again.
            async def at_rest() -> dict[str, str]:
                [row] = await query(
                    stack.database_url("call-router"),
                    "SELECT sealed->>'kid' AS kid, sealed::text AS sealed FROM callers"
                    " WHERE clinic_id = $1 AND caller_token = $2",
                    clinic_id,
                    caller,
                )
                assert digits.decode() not in row["sealed"]
                return row

            assert (await at_rest())["kid"] == "dev-1"
            async with router.client() as client:
                assert (await client.put(url + caller, json={"phone_number": number})).status_code == 200
                assert (await at_rest())["kid"] == "dev-2"
                # Forgotten: the next call goes out without a callback.
                assert (await client.delete(f"/v1/clinics/{clinic_id}/callers/{caller}")).status_code == 204
            third = _call(clinic_id, caller)
            await send_events(stack.bootstrap, [third])
            await _both_copies(tap, third.call_id)
            assert _overflowed(tap, third.call_id, topic).callback is None

            # Expired: not sent, and the prune timer of its expiry day deletes it.
            expiring = uid("tok")
            async with router.client() as client:
                assert (await client.put(url + expiring, json={"phone_number": number})).status_code == 200
            db = stack.database_url("call-router")
            await query(db, "UPDATE callers SET expires_at = now() WHERE caller_token = $1", expiring)
            late = _call(clinic_id, expiring)
            await send_events(stack.bootstrap, [late])
            await _both_copies(tap, late.call_id)
            assert _overflowed(tap, late.call_id, topic).callback is None
            await query(db, "UPDATE timers SET due_at = now() WHERE timer_key LIKE 'callers-prune:%'")
            deadline = time.monotonic() + 30
            while await query(db, "SELECT 1 FROM callers WHERE caller_token = $1", expiring):
                assert time.monotonic() < deadline, "the expired number was never deleted"
                await asyncio.sleep(0.3)
    finally:
        router.stop()
        normal.start()

    # The router's log shows neither the number nor a key.
    log = normal.process.log_file.read_text(errors="replace")
    assert digits.decode() not in log and "4155550123" not in log and "415 555 0123" not in log
    assert not [k for k in json.loads(ring2.to_json())[vendor]["keys"].values() if k in log]
