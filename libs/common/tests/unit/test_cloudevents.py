"""CloudEvents binary mode: encode/decode round trips, the headers on the wire, and malformed records."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.common.cloudevents import (
    CONTENT_TYPE,
    SPECVERSION,
    Headers,
    MalformedEvent,
    OutgoingRecord,
    TraceContext,
    dataschema,
    decode,
    encode,
)
from frontdesk.common.contracts import EVENTS, CallReceived, Event, vendor_calls_topic, vendor_events_topic
from frontdesk.common.contracts.registry import topic_accepts

SOURCE = "frontdesk/test"
WHEN = datetime(2026, 11, 27, 10, 15, 30, 123456, tzinfo=timezone(timedelta(hours=-5)))
TRACEPARENT = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
PHONE = "+1 555 123 4567"


def call_received(**overrides: object) -> CallReceived:
    fields: dict[str, object] = {
        "call_id": "call-1",
        "clinic_id": "clinic-1",
        "received_at": datetime(2026, 11, 27, 15, 0, tzinfo=UTC),
        "caller_token": "tok_abc",
    }
    fields.update(overrides)
    return CallReceived.model_validate(fields)


def header(record: OutgoingRecord | Headers, name: str) -> bytes:
    headers = record.headers if isinstance(record, OutgoingRecord) else record
    [value] = [v for n, v in headers if n == name]
    return value


def replace_header(headers: Headers, name: str, value: bytes | None) -> list[tuple[str, bytes | None]]:
    return [(n, value if n == name else v) for n, v in headers]


def own_topic(event_type: str) -> str | None:
    """None (its registry topic), or a vendor's own topic for the types that travel only there."""
    if EVENTS[event_type].topic is not None:
        return None
    if topic_accepts(event_type, vendor_calls_topic("answering-1")):
        return vendor_calls_topic("answering-1")
    return vendor_events_topic("answering-1")


def without_header(headers: Headers, name: str) -> Headers:
    return [(n, v) for n, v in headers if n != name]


# --- encode / decode ----------------------------------------------------------------------------


def test_every_registered_event_type_has_a_sample(samples: dict[str, Event]) -> None:
    assert set(samples) == set(EVENTS)


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_round_trip(event_type: str, samples: dict[str, Event]) -> None:
    event = samples[event_type]
    trace = TraceContext.new()
    record = encode(event, source=SOURCE, event_id="evt-1", time=WHEN, trace=trace, topic=own_topic(event_type))

    envelope = decode(record.topic, record.value, record.headers)

    assert envelope.data == event
    assert envelope.topic == record.topic
    assert type(envelope.data) is type(event)
    assert envelope.data.model_dump_json() == event.model_dump_json()
    assert (envelope.id, envelope.source, envelope.type) == ("evt-1", SOURCE, event_type)
    assert envelope.time == WHEN and envelope.time.utcoffset() == WHEN.utcoffset()
    assert envelope.trace == trace


@pytest.mark.parametrize("event_type", sorted(EVENTS))
def test_encoded_headers_topic_and_key(event_type: str, samples: dict[str, Event]) -> None:
    event = samples[event_type]
    spec = EVENTS[event_type]
    record = encode(event, source=SOURCE, time=WHEN, topic=own_topic(event_type))

    assert record.topic == (spec.topic.name if spec.topic is not None else own_topic(event_type))
    assert record.key == str(getattr(event, spec.model.key_field)).encode()
    assert record.key == event.record_key().encode()
    assert json.loads(record.value) == json.loads(event.model_dump_json())

    names = [name for name, _ in record.headers]
    assert len(names) == len(set(names)), "no header is written twice"
    assert header(record, "ce_specversion") == b"1.0" == SPECVERSION.encode()
    assert header(record, "ce_type").decode() == event_type
    assert header(record, "ce_source").decode() == SOURCE
    assert header(record, "content-type") == b"application/json" == CONTENT_TYPE.encode()
    assert header(record, "ce_dataschema").decode() == dataschema(event_type, spec.model.version)
    assert datetime.fromisoformat(header(record, "ce_time").decode()) == WHEN
    uuid.UUID(header(record, "ce_id").decode())  # a fresh UUID when no id is given
    traceparent = header(record, "traceparent").decode()
    assert TRACEPARENT.match(traceparent)
    assert TraceContext.parse(traceparent) is not None


def test_encode_without_time_or_trace_stamps_now_and_a_fresh_trace() -> None:
    before = datetime.now(UTC)
    first = encode(call_received(), source=SOURCE)
    second = encode(call_received(), source=SOURCE)
    stamped = datetime.fromisoformat(header(first, "ce_time").decode())
    assert stamped.tzinfo is not None and before <= stamped <= datetime.now(UTC)
    assert header(first, "ce_id") != header(second, "ce_id")
    assert header(first, "traceparent") != header(second, "traceparent")


def test_the_given_trace_is_the_one_on_the_wire() -> None:
    trace = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    record = encode(call_received(), source=SOURCE, trace=trace)
    assert header(record, "traceparent") == b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_header_names_and_content_type_parameters_are_tolerated() -> None:
    record = encode(call_received(), source=SOURCE, time=WHEN)
    upper_case: Headers = [(n.upper() if n.startswith("ce_") else n, v) for n, v in record.headers]
    headers = replace_header(upper_case, "content-type", b"application/json; charset=utf-8")
    assert decode(record.topic, record.value, headers).data == call_received()


def test_optional_headers_may_be_absent() -> None:
    """A minimal producer (kcat) may send only the required attributes."""
    record = encode(call_received(), source=SOURCE)
    minimal = [(n, v) for n, v in record.headers if n in ("ce_specversion", "ce_id", "ce_source", "ce_type")]
    before = datetime.now(UTC)
    envelope = decode(record.topic, record.value, minimal)
    assert envelope.data == call_received()
    assert before <= envelope.time <= datetime.now(UTC)


def test_a_record_without_traceparent_starts_a_fresh_valid_trace() -> None:
    record = encode(call_received(), source=SOURCE)
    first = decode(record.topic, record.value, without_header(record.headers, "traceparent")).trace
    second = decode(record.topic, record.value, without_header(record.headers, "traceparent")).trace
    assert TRACEPARENT.match(first.header())
    assert TraceContext.parse(first.header()) == first
    assert first.trace_id != second.trace_id


@pytest.mark.parametrize(
    "traceparent",
    [
        b"",
        b"garbage",
        b"00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        b"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero span id
        b"00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",  # upper case
        b"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # unknown version
    ],
)
def test_an_invalid_traceparent_starts_a_fresh_trace(traceparent: bytes) -> None:
    record = encode(call_received(), source=SOURCE)
    trace = decode(record.topic, record.value, replace_header(record.headers, "traceparent", traceparent)).trace
    assert TRACEPARENT.match(trace.header())
    assert trace.header() != traceparent.decode()


# --- malformed records --------------------------------------------------------------------------

Mutation = Callable[[OutgoingRecord], tuple[str, bytes | None, list[tuple[str, bytes | None]]]]


def _with_header(name: str, value: bytes | None) -> Mutation:
    return lambda r: (r.topic, r.value, replace_header(r.headers, name, value))


def _with_value(value: bytes | None) -> Mutation:
    return lambda r: (r.topic, value, list(r.headers))


def _payload(**changes: object) -> bytes:
    payload = json.loads(call_received().model_dump_json())
    payload.update(changes)
    return json.dumps({k: v for k, v in payload.items() if v is not ...}).encode()


MALFORMED: dict[str, tuple[Mutation, str]] = {
    "missing ce_id": (lambda r: (r.topic, r.value, list(without_header(r.headers, "ce_id"))), "ce_id"),
    "empty ce_id": (_with_header("ce_id", b""), "missing CloudEvents headers: ce_id"),
    "None ce_source": (_with_header("ce_source", None), "missing CloudEvents headers: ce_source"),
    "wrong specversion": (_with_header("ce_specversion", b"0.3"), "unsupported ce_specversion '0.3'"),
    "unknown type": (_with_header("ce_type", b"call.teleported"), "unknown event type 'call.teleported'"),
    "type on the wrong topic": (
        lambda r: ("call.routed", r.value, list(r.headers)),
        "'call.received' does not belong on topic 'call.routed'",
    ),
    "type on its dead-letter topic": (
        lambda r: ("call.received.dlq", r.value, list(r.headers)),
        "does not belong on topic 'call.received.dlq'",
    ),
    "wrong content type": (_with_header("content-type", b"text/plain"), "unsupported content-type 'text/plain'"),
    "bad JSON": (_with_value(b'{"call_id": "call-1",'), "value is not JSON: JSONDecodeError at position"),
    "value not UTF-8": (_with_value(b"\xff\xfe{}"), "value is not JSON"),
    "None value": (_with_value(None), "record has no value"),
    "JSON that is not an object": (_with_value(b"[1, 2]"), "schema violation in call.received: <root>: model_type"),
    "missing field": (
        _with_value(_payload(received_at=...)),
        "schema violation in call.received: received_at: missing",
    ),
    "unknown field": (_with_value(_payload(colour="blue")), "colour: extra_forbidden"),
    "naive received_at": (_with_value(_payload(received_at="2026-11-27T10:00:00")), "received_at: timezone_aware"),
    "naive ce_time": (_with_header("ce_time", b"2026-11-27T10:00:00"), "ce_time has no offset"),
    "ce_time not a time": (_with_header("ce_time", b"yesterday"), "ce_time 'yesterday' is not RFC 3339"),
    "unsupported dataschema version": (
        _with_header("ce_dataschema", b"urn:frontdesk:schema:call.received:2"),
        "unsupported version 2 of 'call.received'",
    ),
    "dataschema of another type": (
        _with_header("ce_dataschema", b"urn:frontdesk:schema:call.routed:1"),
        "unrecognised ce_dataschema",
    ),
    "dataschema not ours": (_with_header("ce_dataschema", b"https://example.com/schema"), "unrecognised ce_dataschema"),
    "non-UTF-8 header": (_with_header("ce_source", b"\xff\xfesrc"), "header ce_source is not UTF-8"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_records_are_refused_with_a_reason(case: str) -> None:
    mutate, reason = MALFORMED[case]
    record = encode(call_received(), source=SOURCE, time=WHEN)
    topic, value, headers = mutate(record)
    with pytest.raises(MalformedEvent) as excinfo:
        decode(topic, value, headers)
    assert reason in str(excinfo.value)


@pytest.mark.parametrize(
    "payload",
    [
        _payload(caller_token=PHONE),  # a phone number where an opaque token belongs
        _payload(call_id=PHONE),
        _payload(intent=PHONE),
        _payload(language=PHONE),
        _payload(received_at=PHONE),
        _payload(caller_token={"phone": PHONE}),
        _payload(notes=PHONE),  # an unknown field carrying personal data
    ],
)
def test_a_schema_violation_never_echoes_the_offending_value(payload: bytes) -> None:
    record = encode(call_received(), source=SOURCE)
    with pytest.raises(MalformedEvent) as excinfo:
        decode(record.topic, payload, record.headers)
    reason = str(excinfo.value)
    assert reason.startswith("schema violation in call.received: ")
    assert PHONE not in reason
    assert "555" not in reason and "4567" not in reason


def test_a_schema_violation_names_the_field_and_the_kind_of_error() -> None:
    record = encode(call_received(), source=SOURCE)
    with pytest.raises(MalformedEvent) as excinfo:
        decode(record.topic, _payload(caller_token=PHONE), record.headers)
    assert str(excinfo.value) == "schema violation in call.received: caller_token: string_pattern_mismatch"


def test_a_model_level_violation_is_reported_without_values(samples: dict[str, Event]) -> None:
    event = samples["appointment.requested"]
    record = encode(event, source=SOURCE)
    payload = json.loads(record.value)
    payload["ends_at"] = payload["starts_at"]
    with pytest.raises(MalformedEvent) as excinfo:
        decode(record.topic, json.dumps(payload).encode(), record.headers)
    assert str(excinfo.value) == "schema violation in appointment.requested: <root>: value_error"


# --- trace context ------------------------------------------------------------------------------


def test_child_keeps_the_trace_and_changes_the_span() -> None:
    parent = TraceContext.new()
    child = parent.child()
    assert child.trace_id == parent.trace_id
    assert child.span_id != parent.span_id
    assert child.flags == parent.flags
    assert TRACEPARENT.match(child.header())
    assert child.child().trace_id == parent.trace_id


def test_traceparent_parse_and_header_round_trip() -> None:
    text = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
    trace = TraceContext.parse(text)
    assert trace == TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", "00")
    assert trace.header() == text
    assert TraceContext.parse(None) is None


def test_new_traces_are_valid_and_distinct() -> None:
    traces = [TraceContext.new() for _ in range(50)]
    assert all(TraceContext.parse(t.header()) == t for t in traces)
    assert len({t.trace_id for t in traces}) == 50


# --- property: any valid CallReceived survives the wire unchanged -------------------------------

ID_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:@-"
ids = st.text(alphabet=ID_ALPHABET, min_size=1, max_size=128)
# RFC 3339 offsets have minutes, not seconds; real zones today have whole-minute offsets.
offsets = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
instants = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.one_of(st.just(UTC), offsets)
)
call_received_events = st.builds(
    CallReceived,
    call_id=ids,
    clinic_id=ids,
    received_at=instants,
    caller_token=ids,
    intent=st.sampled_from(["new_patient", "appointment", "prescription", "billing", "results", "urgent", "other"]),
    language=st.none() | st.from_regex(r"[a-z]{2,3}(-[A-Z]{2})?", fullmatch=True),
    patient_id=st.none() | ids,
)


@given(event=call_received_events, event_time=instants, event_id=ids, source=st.text(min_size=1))
def test_any_valid_call_received_round_trips_unchanged(
    event: CallReceived, event_time: datetime, event_id: str, source: str
) -> None:
    trace = TraceContext.new()
    record = encode(event, source=source, event_id=event_id, time=event_time, trace=trace)
    assert record.key == event.clinic_id.encode()

    envelope = decode(record.topic, record.value, record.headers)

    assert envelope.data == event
    assert envelope.data.model_dump_json() == event.model_dump_json()
    assert envelope.data.received_at.utcoffset() == event.received_at.utcoffset()
    assert (envelope.id, envelope.source, envelope.type, envelope.trace) == (event_id, source, "call.received", trace)
    assert envelope.time == event_time


def test_vendor_reports_travel_on_the_vendors_own_topic_only(samples: dict[str, Event]) -> None:
    message = samples["answering.message_taken"]
    with pytest.raises(ValueError, match="no shared topic"):
        encode(message, source=SOURCE)
    own = encode(message, source=SOURCE, topic=vendor_events_topic("acme"))
    assert decode(own.topic, own.value, own.headers).topic == "vendor.acme.events"
    for elsewhere in ("answering.message_taken", vendor_calls_topic("acme"), "vendor.acme.events.dlq"):
        with pytest.raises(MalformedEvent, match="does not belong on topic"):
            decode(elsewhere, own.value, own.headers)
    # call.answered: the phone system's on the shared topic, a vendor's on its own
    answered = samples["call.answered"]
    for topic in ("call.answered", vendor_events_topic("acme")):
        record = encode(answered, source=SOURCE, topic=topic)
        assert decode(record.topic, record.value, record.headers).data == answered
    received = encode(call_received(), source=SOURCE, topic=vendor_events_topic("acme"))
    with pytest.raises(MalformedEvent, match="does not belong on topic"):
        decode(received.topic, received.value, received.headers)


def test_a_vendor_cannot_take_another_producers_event_identity(samples: dict[str, Event]) -> None:
    # The inbox drops a repeat by (source, id). A vendor chooses both freely, so on its own topic its
    # source is taken within its namespace: writing phone-bridge's source and id, or the same careless
    # source and id as another vendor, claims a key of its own, never theirs.
    answered = samples["call.answered"]

    def identity(topic: str, source: str, event_id: str = "call-9:answered") -> tuple[str, str]:
        record = encode(answered, source=source, event_id=event_id, topic=topic)
        envelope = decode(record.topic, record.value, record.headers)
        assert envelope.source == source  # what the handlers see is what was written
        return envelope.inbox_source, envelope.id

    bridge = identity("call.answered", "frontdesk/phone-bridge")
    assert bridge == ("frontdesk/phone-bridge", "call-9:answered")
    spoofed = identity(vendor_events_topic("acme"), "frontdesk/phone-bridge")
    assert spoofed == ("vendor/acme/frontdesk/phone-bridge", "call-9:answered")
    careless = {identity(vendor_events_topic(v), "answering-desk", "1") for v in ("acme", "other")}
    assert careless == {("vendor/acme/answering-desk", "1"), ("vendor/other/answering-desk", "1")}
    # the documented source, and sources under it, are kept as written
    assert identity(vendor_events_topic("acme"), "vendor/acme")[0] == "vendor/acme"
    assert identity(vendor_events_topic("acme"), "vendor/acme/site-2")[0] == "vendor/acme/site-2"
    assert identity(vendor_events_topic("acme"), "vendor/acmeish")[0] == "vendor/acme/vendor/acmeish"
