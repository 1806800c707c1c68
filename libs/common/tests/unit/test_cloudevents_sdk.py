"""Our Kafka records as the CloudEvents SDK reads them (its Kafka protocol binding, binary content
mode), and records the SDK writes as our consumers read them: any subscriber or producer using the
official SDK interoperates with us, not only our own code."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary_event, from_kafka_event, to_binary_event
from cloudevents.core.v1.event import CloudEvent

from frontdesk.common.cloudevents import CONTENT_TYPE, TraceContext, dataschema, decode, encode
from frontdesk.common.contracts import EVENTS, Event, vendor_calls_topic, vendor_events_topic
from frontdesk.common.contracts.registry import topic_accepts

SOURCE = "frontdesk/test"
ATTRIBUTES = {"specversion", "id", "source", "type", "time", "datacontenttype", "dataschema"}
WHEN = datetime(2027, 1, 10, 9, 15, 30, 123456, tzinfo=timezone(timedelta(hours=5, minutes=45)))


def own_topic(event_type: str) -> str | None:
    """None (its registry topic), or a vendor's own topic for the types that travel only there."""
    if EVENTS[event_type].topic is not None:
        return None
    if topic_accepts(event_type, vendor_calls_topic("answering-1")):
        return vendor_calls_topic("answering-1")
    return vendor_events_topic("answering-1")


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_the_sdk_reads_every_record_we_write(event_type: str, samples: dict[str, Event]) -> None:
    event = samples[event_type]
    record = encode(event, source=SOURCE, event_id="evt-1", time=WHEN, topic=own_topic(event_type))
    message = KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)

    read = from_binary_event(message)
    assert from_kafka_event(message).get_attributes() == read.get_attributes()  # detected as binary mode
    assert (read.get_specversion(), read.get_id(), read.get_source(), read.get_type()) == (
        "1.0",
        "evt-1",
        SOURCE,
        event_type,
    )
    assert read.get_time() == WHEN and read.get_time().utcoffset() == WHEN.utcoffset()  # type: ignore[union-attr]
    assert read.get_datacontenttype() == CONTENT_TYPE
    assert read.get_dataschema() == dataschema(event_type, event.version)
    assert read.get_data() == json.loads(event.model_dump_json())
    # Only ce_* headers are attributes (the W3C traceparent travels as a transport header beside
    # them); the binding reads the record key as the partitionkey extension.
    assert read.get_extension("partitionkey") in (record.key, record.key.decode())
    assert set(read.get_attributes()) == {*ATTRIBUTES, "partitionkey"}


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_we_read_every_record_the_sdk_writes(event_type: str, samples: dict[str, Event]) -> None:
    event = samples[event_type]
    attributes = {
        "id": "sdk-1",
        "source": "urn:vendor:sdk-producer",
        "type": event_type,
        "specversion": "1.0",
        "time": datetime(2027, 1, 10, 3, 30, tzinfo=UTC),
        "datacontenttype": "application/json",
        "dataschema": dataschema(event_type, event.version),
    }
    written = to_binary_event(CloudEvent(attributes, json.loads(event.model_dump_json())))
    topic = own_topic(event_type) or EVENTS[event_type].topic.name  # type: ignore[union-attr]
    headers = [(name, value) for name, value in written.headers.items()]
    trace = TraceContext.new()

    envelope = decode(topic, written.value, [*headers, ("traceparent", trace.header().encode())])
    assert envelope.data == event
    assert (envelope.id, envelope.source, envelope.type) == ("sdk-1", "urn:vendor:sdk-producer", event_type)
    assert envelope.time == attributes["time"] and envelope.trace == trace


def test_a_minimal_sdk_record_is_accepted_too(samples: dict[str, Event]) -> None:
    """Only the required attributes and a JSON body: no time, no schema, no trace."""
    event = samples["call.received"]
    attributes = {"id": "sdk-2", "source": "urn:phone-system:sdk", "type": "call.received", "specversion": "1.0"}
    written = to_binary_event(CloudEvent(attributes, json.loads(event.model_dump_json())))
    envelope = decode("call.received", written.value, list(written.headers.items()))
    assert envelope.data == event and envelope.id == "sdk-2"
