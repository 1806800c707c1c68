"""The personal-data detectors and the bus/log scan that the system tests run (tests/integration/test_pii_scan.py)."""

from __future__ import annotations

import json
import typing
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import BaseModel

from frontdesk.common.cloudevents import encode
from frontdesk.common.contracts import Event, vendor_events_topic
from frontdesk.common.contracts.registry import EVENTS
from frontdesk.common.pii import (
    PERSONAL_DATA_ALLOWLIST,
    NameList,
    census_names,
    emails,
    phone_numbers,
    scan_log,
    scan_payload,
    scan_records,
    scan_text,
)

SERVICES = {"frontdesk/call-router", "frontdesk/scheduler", "frontdesk/followup", "frontdesk/reviews"}


@dataclass
class Rec:
    topic: str
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)
    key: bytes | None = b"clinic-1"
    partition: int = 0
    offset: int = 0


def _record(event: Event, source: str = "frontdesk/scheduler", offset: int = 0) -> Rec:
    own = None if EVENTS[event.event_type].topic is not None else vendor_events_topic("answering-1")
    encoded = encode(event, source=source, topic=own)
    return Rec(encoded.topic, encoded.value, list(encoded.headers), encoded.key, 0, offset)


# --- detectors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("phone", ["+1 (555) 123-4567", "555.123.4567", "5551234567", "+44 20 7946 0958"])
def test_phone_numbers_are_found(phone: str) -> None:
    assert phone_numbers(f"call me on {phone} today") == [phone]


@pytest.mark.parametrize(
    "text", ["2026-11-27T10:00:00.123456+00:00", "123e4567-e89b-12d3-a456-426614174000", "call-5551234567", "8080"]
)
def test_dates_uuids_ids_and_short_numbers_are_not_phone_numbers(text: str) -> None:
    assert phone_numbers(text) == []


def test_emails_are_found_and_their_digits_are_not_a_phone_number() -> None:
    assert emails("write to J.Doe+clinic@mail.example.co.uk.") == ["J.Doe+clinic@mail.example.co.uk"]
    assert scan_text("patient_5551234567@example.org") == [("email", "patient_5551234567@example.org")]


def test_census_names_are_a_real_list() -> None:
    names = census_names()
    assert {"JANE", "MARY", "JOHN", "MARIA"} <= names.given
    assert {"SMITH", "GARCIA", "DOE", "OBRIEN"} <= names.surnames
    assert len(names.given) > 5000 and len(names.surnames) == 5000


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("patient Jane Doe called", ["Jane Doe"]),
        ("Mary J. Smith, DOB unknown", ["Mary Smith"]),
        ("ask for Maria Garcia or John O'Brien", ["Maria Garcia", "John O'Brien"]),
        ("Ronald McDonald", ["Ronald McDonald"]),
        ("PID|1||MRN-42^^^EPIC^MR||DOE^JANE^Q||19800101", ["DOE^JANE"]),  # HL7 v2: FAMILY^GIVEN
        ("MSH|^~\\&|EPIC|CLINIC", []),
        ("Always Open Test Clinic", []),
        ("Application startup complete.", []),
        ("jane doe", []),  # not capitalised: too many false positives to be worth it
        ("dr-test-1 pat-jane-doe", []),  # inside ids
    ],
)
def test_person_names_are_found_as_given_name_and_surname(text: str, found: list[str]) -> None:
    assert census_names().find(text) == found


def test_a_small_name_list_works_the_same() -> None:
    names = NameList(given=frozenset({"ANA"}), surnames=frozenset({"LIMA"}))
    assert scan_text("Ana Lima at +1 555 123 4567, ana@example.com", names) == [
        ("email", "ana@example.com"),
        ("phone", "+1 555 123 4567"),
        ("name", "Ana Lima"),
    ]


def test_payload_paths_and_personal_data_keys() -> None:
    payload: dict[str, Any] = {
        "patient_id": "pat-1",
        "notes": "anything at all",
        "phone": {"rings": 3, "front_desk_pool": "desk"},  # a settings section is walked, not flagged
        "contacts": [{"email": "x@example.org"}, {"label": "home 555-123-4567"}],
        "name": "[redacted]",
        "count": 5551234567,  # numbers are not text: only under a personal-data key
        "caller": {"phone_number": 5551234567},
    }
    assert sorted(scan_payload(payload, census_names())) == [
        ("caller.phone_number", "personal-data key", "5551234567"),
        ("contacts[].email", "personal-data key", "x@example.org"),
        ("contacts[].label", "phone", "555-123-4567"),
        ("notes", "personal-data key", "anything at all"),
    ]


# --- the allowlist -----------------------------------------------------------------------------


def _paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    paths: set[str] = set()
    for name, info in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        paths.add(path)
        stack: list[Any] = [info.annotation]
        while stack:
            annotation = stack.pop()
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                paths |= _paths(annotation, path)
            stack += typing.get_args(annotation)
    return paths


def test_the_allowlist_names_real_event_types_and_fields() -> None:
    for event_type, fields in PERSONAL_DATA_ALLOWLIST.items():
        assert event_type in EVENTS
        assert fields <= _paths(EVENTS[event_type].model), fields - _paths(EVENTS[event_type].model)


def test_one_valid_record_of_every_event_type_is_clean(samples: dict[str, Event]) -> None:
    records = [_record(event, offset=n) for n, event in enumerate(samples.values())]
    assert scan_records(records, census_names(), SERVICES) == []


# --- records -----------------------------------------------------------------------------------


def test_a_planted_phone_email_or_name_on_the_bus_is_caught(samples: dict[str, Event]) -> None:
    call = samples["call.received"].model_copy(update={"caller_token": "+1 555 123 4567"})
    booked = samples["appointment.booked"].model_copy(update={"patient_id": "jane.doe@example.com"})
    message = samples["message.requested"].model_copy(update={"variables": {"greeting": "Hello Jane Doe"}})
    records = [_record(call, "frontdesk/call-router", 1), _record(booked, offset=2), _record(message, offset=3)]
    records.append(Rec("call.routed", b"{}", [("ce_source", b"frontdesk/call-router")], b"Mary Smith", 0, 4))
    found = {(f.where, f.kind, f.text) for f in scan_records(records, census_names(), SERVICES)}
    assert found == {
        ("call.received/0@1 field caller_token", "phone", "+1 555 123 4567"),
        ("appointment.booked/0@2 field patient_id", "email", "jane.doe@example.com"),
        ("appointment.booked/0@2 key", "email", "jane.doe@example.com"),  # patient_id is its key
        ("message.requested/0@3 field variables.greeting", "name", "Jane Doe"),
        ("call.routed/0@4 key", "name", "Mary Smith"),
    }


def test_the_clinic_name_is_allowed_but_only_there(samples: dict[str, Event]) -> None:
    configured = samples["clinic.configured"]
    config = configured.config.model_copy(update={"name": "Dr Mary Smith Family Practice"})  # type: ignore[attr-defined]
    allowed = configured.model_copy(update={"config": config})
    tampered = json.loads(encode(allowed, source="frontdesk-operator").value)
    tampered["config"]["timezone"] = "call Mary Smith"
    records = [_record(allowed, "frontdesk-operator", 1), Rec("clinic.configured", json.dumps(tampered).encode())]
    assert [str(f) for f in scan_records(records, census_names(), SERVICES)] == [
        "clinic.configured/0@0 field config.timezone: name 'Mary Smith'"
    ]


def test_injected_poison_that_was_dead_lettered_is_skipped_but_what_we_wrote_about_it_is_not() -> None:
    poison_headers = [("ce_source", b"tests"), ("ce_id", b"bad-1")]
    poison = Rec("call.received", b'{"caller_token": "+1 555 123 4567"', poison_headers, offset=7)
    dead = Rec(
        "call.received.dlq",
        poison.value,
        [
            *poison_headers,
            ("dlq_reason", b"not JSON near '+1 555 123 4567'"),  # an echo: our consumer's fault
            ("dlq_source_topic", b"call.received"),
            ("dlq_source_partition", b"0"),
            ("dlq_source_offset", b"7"),
        ],
        offset=0,
    )
    # Injected but never dead-lettered: scanned like anything else.
    loose = Rec("call.received", b'{"caller_token": "jane@example.com"}', poison_headers, offset=8)
    # Dead-lettered but written by one of our services: never skipped.
    ours = Rec(
        "appointment.booked.dlq",
        b'{"patient_id": "555-123-4567"}',
        [("ce_source", b"frontdesk/scheduler"), ("dlq_source_topic", b"appointment.booked")],
        offset=0,
    )
    found = [str(f) for f in scan_records([poison, dead, loose, ours], None, SERVICES)]
    assert found == [
        "call.received.dlq/0@0 header dlq_reason: phone '+1 555 123 4567'",
        "call.received/0@8 field caller_token: email 'jane@example.com'",
        "appointment.booked.dlq/0@0 field patient_id: phone '555-123-4567'",
    ]
    # Without the echo, the poison and its dead letter are clean.
    dead.headers[2] = ("dlq_reason", b"not JSON")
    assert len(scan_records([poison, dead], None, SERVICES)) == 0


# --- logs ----------------------------------------------------------------------------------------


def test_log_lines_are_scanned_value_by_value_or_as_text() -> None:
    lines = [
        json.dumps({"event": "routed", "elapsed": 0.1234567891, "timestamp": "2026-11-27T10:00:00Z"}),
        json.dumps({"event": "caller [redacted] routed", "phone": "[redacted]"}),
        json.dumps({"event": "booked", "detail": {"who": "Jane Doe"}}),
        json.dumps({"event": "sent", "email": "x@example.org"}),
        "Traceback: ValueError: bad address jane@example.com",
    ]
    assert [str(f) for f in scan_log("logs/svc.log", lines, census_names())] == [
        "logs/svc.log:3 detail.who: name 'Jane Doe'",
        "logs/svc.log:4 email: personal-data key 'x@example.org'",
        "logs/svc.log:5: email 'jane@example.com'",
    ]
