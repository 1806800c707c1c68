"""CloudEvents 1.0 in Kafka binary mode, and W3C trace context.

A record's value is the event's JSON payload; the CloudEvents attributes travel as `ce_*` headers,
next to `content-type: application/json` and `traceparent`. Any producer that writes these headers
(kcat, a Java client, a vendor's system) is a first-class producer: nothing here is Python-specific.
The tests hold us to the CloudEvents SDK's Kafka binding both ways (test_cloudevents_sdk.py): it reads
every record we write, and we read every record it writes.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Generic, TypeVar

from pydantic import ValidationError

from .contracts import Event, spec_for, vendor_of_events_topic
from .contracts.registry import topic_accepts

SPECVERSION = "1.0"
CONTENT_TYPE = "application/json"
E = TypeVar("E", bound=Event)
Headers = list[tuple[str, bytes]]

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_SCHEMA = re.compile(r"^urn:frontdesk:schema:([a-z0-9._]+):(\d+)$")
_READ = frozenset(
    {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "ce_dataschema", "content-type", "traceparent"}
)


# A CloudEvents attribute header (ce_id, ce_type, ...) longer than this is refused before it is used
# or echoed: a hostile record could otherwise carry one of up to the topic's 1 MB into the inbox,
# the logs and the dead letter's reason.
MAX_ATTRIBUTE_CHARS = 512
ECHO_CHARS = 64  # what a reason quotes of a value, at most


class MalformedEvent(Exception):
    """A record that no retry can fix. Its message is the reason written on the dead letter."""


def echo(value: str, limit: int = ECHO_CHARS) -> str:
    """`value` quoted for a reason or a log line, at most `limit` characters of it."""
    if len(value) <= limit:
        return repr(value)
    return f"{value[:limit]!r}... ({len(value)} characters)"


def dataschema(event_type: str, version: int) -> str:
    return f"urn:frontdesk:schema:{event_type}:{version}"


@dataclass(frozen=True)
class TraceContext:
    trace_id: str
    span_id: str
    flags: str = "01"

    @classmethod
    def new(cls) -> TraceContext:
        return cls(os.urandom(16).hex(), os.urandom(8).hex())

    @classmethod
    def parse(cls, header: str | None) -> TraceContext | None:
        match = _TRACEPARENT.match(header or "")
        if not match or match.group(1) == "0" * 32 or match.group(2) == "0" * 16:
            return None
        return cls(*match.groups())

    def child(self) -> TraceContext:
        """The context for work caused by this one: same trace, new span."""
        return TraceContext(self.trace_id, os.urandom(8).hex(), self.flags)

    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


@dataclass(frozen=True)
class Envelope(Generic[E]):
    """An event with its CloudEvents attributes, as a consumer sees it."""

    id: str
    source: str
    type: str
    time: datetime
    data: E
    trace: TraceContext = field(default_factory=TraceContext.new)
    topic: str | None = None  # the topic it was read from (a per-vendor topic tells who wrote it)

    @property
    def inbox_source(self) -> str:
        """The source the inbox keys this event by (with `id`): `inbox_source`."""
        return inbox_source(self.source, self.topic)


def inbox_source(source: str, topic: str | None) -> str:
    """The source the inbox keys an event by (with its id). On a vendor's own topic the topic names
    the writer, so the source is taken within that vendor's namespace `vendor/<id>`: a vendor that
    writes another producer's source and id (phone-bridge's `<call>:answered`, another vendor's
    sequence number) claims only its own key, and the other producer's event is not dropped as a
    repeat. A source already in the namespace (the documented `vendor/<id>`) is kept as it is."""
    vendor = vendor_of_events_topic(topic) if topic else None
    if vendor is None:
        return source
    namespace = f"vendor/{vendor}"
    if source == namespace or source.startswith(namespace + "/"):
        return source
    return f"{namespace}/{source}"


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: bytes
    value: bytes
    headers: Headers


def new_event_id() -> str:
    return str(uuid.uuid4())


def topic_of(event: Event, topic: str | None = None) -> str:
    """`topic`, or else the event's registry topic."""
    spec = spec_for(event.event_type)
    if spec is None:
        raise KeyError(f"event type {event.event_type!r} is not in the registry")
    if topic is None:
        if spec.topic is None:
            raise ValueError(f"{event.event_type!r} has no shared topic: pass its per-vendor topic")
        topic = spec.topic.name
    return topic


def encode(
    event: Event,
    *,
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
    trace: TraceContext | None = None,
    topic: str | None = None,
) -> OutgoingRecord:
    """The Kafka record of an event: on its registry topic, or on `topic` (e.g. a vendor's own)."""
    topic = topic_of(event, topic)
    headers = attributes(
        event.event_type, event.version, source=source, event_id=event_id or new_event_id(), time=time, trace=trace
    )
    return OutgoingRecord(
        topic=topic,
        key=event.record_key().encode(),
        value=event.model_dump_json().encode(),
        headers=headers,
    )


def attributes(
    event_type: str,
    version: int | None,
    *,
    source: str,
    event_id: str,
    time: datetime | None = None,
    trace: TraceContext | None = None,
) -> Headers:
    """The CloudEvents headers of a record (binary mode); no `ce_dataschema` without a version."""
    if time is not None and time.tzinfo is None:
        raise ValueError("ce_time needs an offset: pass an aware datetime")
    when = (time or datetime.now(UTC)).isoformat()
    schema = [] if version is None else [("ce_dataschema", dataschema(event_type, version).encode())]
    return [
        ("ce_specversion", SPECVERSION.encode()),
        ("ce_id", event_id.encode()),
        ("ce_source", source.encode()),
        ("ce_type", event_type.encode()),
        ("ce_time", when.encode()),
        *schema,
        ("content-type", CONTENT_TYPE.encode()),
        ("traceparent", (trace or TraceContext.new()).header().encode()),
    ]


def _header_map(headers: Sequence[tuple[str, bytes | None]]) -> dict[str, str]:
    """The CloudEvents attributes and the other headers we read, by lower-case name; headers we do
    not read are neither decoded nor checked (a producer may add its own)."""
    out: dict[str, str] = {}
    for name, raw in headers:
        key = name.lower()
        if key not in _READ:
            continue
        if len(raw or b"") > MAX_ATTRIBUTE_CHARS:
            raise MalformedEvent(f"header {key} is {len(raw or b'')} bytes long (at most {MAX_ATTRIBUTE_CHARS})")
        try:
            out[key] = (raw or b"").decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedEvent(f"header {key} is not UTF-8") from None
    return out


def violation(event_type: str, error: ValidationError) -> MalformedEvent:
    """The reason an event's data does not fit its contract: locations and error kinds only (the
    input values may hold personal data, so never echo them)."""
    parts = [
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['type']}"
        for err in error.errors(include_input=False, include_url=False)
    ]
    return MalformedEvent(f"schema violation in {event_type}: {'; '.join(parts[:10])}")


def decode(topic: str, value: bytes | None, headers: Sequence[tuple[str, bytes | None]]) -> Envelope[Event]:
    """Turn a Kafka record into an Envelope, or raise MalformedEvent with a reason."""
    h = _header_map(headers)
    missing = [a for a in ("ce_specversion", "ce_id", "ce_source", "ce_type") if not h.get(a)]
    if missing:
        raise MalformedEvent(f"missing CloudEvents headers: {', '.join(missing)}")
    if h["ce_specversion"] != SPECVERSION:
        raise MalformedEvent(f"unsupported ce_specversion {echo(h['ce_specversion'])}")
    event_type = h["ce_type"]
    spec = spec_for(event_type)
    if spec is None:
        raise MalformedEvent(f"unknown event type {echo(event_type)}")
    if not topic_accepts(event_type, topic):
        raise MalformedEvent(f"event type {event_type!r} does not belong on topic {echo(topic, 255)}")
    content_type = h.get("content-type", CONTENT_TYPE).split(";")[0].strip()
    if content_type != CONTENT_TYPE:
        raise MalformedEvent(f"unsupported content-type {echo(content_type)}")
    version = spec.model.version
    if schema := h.get("ce_dataschema"):
        match = _SCHEMA.match(schema)
        if not match or match.group(1) != event_type:
            raise MalformedEvent(f"unrecognised ce_dataschema {echo(schema)}")
        version = int(match.group(2))
    if version != spec.model.version:
        raise MalformedEvent(f"unsupported version {version} of {event_type!r}")
    if value is None:
        raise MalformedEvent("record has no value")
    try:
        payload = json.loads(value)
    except (ValueError, RecursionError) as exc:
        # JSONDecodeError and UnicodeDecodeError, but also a number of over 4300 digits (ValueError)
        # and arrays nested too deep (RecursionError): otherwise retried forever, holding the partition.
        where = getattr(exc, "pos", "?")
        raise MalformedEvent(f"value is not JSON: {exc.__class__.__name__} at position {where}") from None
    try:
        data = spec.model.model_validate(payload)
    except ValidationError as exc:
        raise violation(event_type, exc) from None
    try:
        when = datetime.fromisoformat(h["ce_time"]) if h.get("ce_time") else datetime.now(UTC)
    except ValueError:
        raise MalformedEvent(f"ce_time {echo(h['ce_time'])} is not RFC 3339") from None
    if when.tzinfo is None:
        raise MalformedEvent("ce_time has no offset")
    trace = TraceContext.parse(h.get("traceparent")) or TraceContext.new()
    return Envelope(
        id=h["ce_id"], source=h["ce_source"], type=event_type, time=when, data=data, trace=trace, topic=topic
    )
