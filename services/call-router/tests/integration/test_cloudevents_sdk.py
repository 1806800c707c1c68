"""The CloudEvents SDK's Kafka binding against the running services: a call.received written by
the SDK (as a phone system using it would) is routed, and the call.routed record call-router puts
on the broker is read back by the SDK with every attribute."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event, to_binary_event
from cloudevents.core.v1.event import CloudEvent

from frontdesk.common.cloudevents import dataschema
from frontdesk.common.contracts import CallRouted
from frontdesk.testing.helpers import send_raw, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap


async def test_an_sdk_producer_and_an_sdk_consumer_talk_to_call_router(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    call_id = uid("call")
    body = {
        "call_id": call_id,
        "clinic_id": "test-always-open",
        "received_at": datetime.now(UTC).isoformat(),
        "caller_token": "tok-sdk",
    }
    attributes = {
        "id": uid("sdk"),
        "source": "urn:phone-system:sdk",
        "type": "call.received",
        "specversion": "1.0",
        "time": datetime.now(UTC),
        "partitionkey": "test-always-open",  # the binding's record key
    }
    written = to_binary_event(CloudEvent(attributes, body))
    key = written.key.encode() if isinstance(written.key, str) else written.key
    assert key == b"test-always-open"
    async with EventTap(stack.bootstrap, ["call.routed"]) as tap:
        await send_raw(stack.bootstrap, [("call.received", key, written.value, list(written.headers.items()))])
        await tap.wait_for(lambda e: getattr(e.data, "call_id", None) == call_id, timeout=60)
    [record] = [r for r in tap.raw if r.value is not None and json.loads(r.value).get("call_id") == call_id]

    headers = {name: value for name, value in record.headers if value is not None}
    routed = from_binary_event(KafkaMessage(headers=headers, key=record.key, value=record.value))
    assert (routed.get_specversion(), routed.get_type(), routed.get_source()) == (
        "1.0",
        "call.routed",
        "frontdesk/call-router",
    )
    when = routed.get_time()
    assert routed.get_id() and when is not None and when.tzinfo is not None
    assert routed.get_dataschema() == dataschema("call.routed", CallRouted.version)
    assert routed.get_datacontenttype() == "application/json"
    data = routed.get_data()
    assert isinstance(data, dict) and data["call_id"] == call_id and data["target_kind"] == "pool"
