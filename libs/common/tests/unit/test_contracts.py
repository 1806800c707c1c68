"""Contract validation (the clinic document and the events) and the type/topic registry."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import pytest
from pydantic import Field, TypeAdapter, ValidationError

from frontdesk.common.contracts import (
    EVENTS,
    TOPIC_PATTERNS,
    AgentStatusChanged,
    AppointmentRequested,
    CallReceived,
    ClinicConfig,
    ClinicConfigured,
    Event,
    NetworkConfigured,
    NetworkFallback,
    OnCallPageRequested,
    VendorPageAcknowledged,
    all_topics,
    dlq_topic,
    spec_for,
    vendor_calls_topic,
    vendor_events_topic,
    vendor_of_events_topic,
    vendor_topics,
)
from frontdesk.common.contracts.clinic import OpeningInterval
from frontdesk.common.contracts.messaging import E164
from frontdesk.common.contracts.registry import topic_accepts


def errors(excinfo: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str, str]]:
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in excinfo.value.errors()]


# --- ClinicConfig -------------------------------------------------------------------------------


def test_a_valid_document_parses(clinic_doc: dict[str, Any]) -> None:
    clinic = ClinicConfig.model_validate(clinic_doc)
    assert clinic.zone.key == "America/New_York"
    assert clinic.closures == [date(2026, 12, 25)]
    assert clinic.phone.front_desk_pool == "front-desk"  # the default
    assert clinic.phone.ring_budget_seconds == 18.0  # 3 rings of 6 seconds


@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "EST5EDT_typo", "America", "America/", "", "../etc/passwd"])
def test_an_unknown_time_zone_is_refused_with_a_clear_message(clinic_doc: dict[str, Any], zone: str) -> None:
    clinic_doc["timezone"] = zone
    with pytest.raises(ValidationError) as excinfo:
        ClinicConfig.model_validate(clinic_doc)
    [(where, message)] = errors(excinfo)
    assert where == "timezone"
    assert message == f"Value error, unknown IANA time zone {zone!r}"


def test_a_providers_day_is_kept_in_their_zone_else_their_locations_else_the_clinics(
    clinic_doc: dict[str, Any],
) -> None:
    clinic_doc["scheduling"] = {
        "locations": [{"location_id": "annex", "timezone": "Asia/Kathmandu"}, {"location_id": "main"}]
    }
    clinic_doc["providers"] = [
        {"provider_id": "dr-own", "timezone": "America/St_Johns", "location_id": "annex"},
        {"provider_id": "dr-annex", "location_id": "annex"},
        {"provider_id": "dr-main", "location_id": "main"},
        {"provider_id": "dr-anywhere"},
    ]
    clinic = ClinicConfig.model_validate(clinic_doc)
    zones = {p: clinic.zone_of(p).key for p in ("dr-own", "dr-annex", "dr-main", "dr-anywhere", "dr-unlisted")}
    assert zones == {
        "dr-own": "America/St_Johns",
        "dr-annex": "Asia/Kathmandu",
        "dr-main": "America/New_York",  # a location without a zone of its own is in the clinic's
        "dr-anywhere": "America/New_York",
        "dr-unlisted": "America/New_York",
    }
    assert [z.key for z in clinic.zones()] == ["America/New_York", "Asia/Kathmandu", "America/St_Johns"]


def test_short_form_hours_are_parsed(clinic_doc: dict[str, Any]) -> None:
    clinic_doc["hours"] = {"mon": ["08:00-12:00", " 13:30-17:00 "], "tue": [], "wed": None}
    clinic = ClinicConfig.model_validate(clinic_doc)
    assert clinic.hours == {
        "mon": [OpeningInterval(opens=time(8), closes=time(12)), OpeningInterval(opens=time(13, 30), closes=time(17))],
        "tue": [],
        "wed": [],
    }


def test_long_form_hours_are_accepted(clinic_doc: dict[str, Any]) -> None:
    clinic_doc["hours"] = {"fri": [{"opens": "09:00", "closes": "12:30"}]}
    assert ClinicConfig.model_validate(clinic_doc).hours["fri"] == [OpeningInterval(opens=time(9), closes=time(12, 30))]


@pytest.mark.parametrize(
    "interval",
    ["12:00-08:00", "08:00-08:00", {"opens": "17:00", "closes": "09:00"}, {"opens": "09:00", "closes": "09:00"}],
)
def test_closes_not_after_opens_is_refused(clinic_doc: dict[str, Any], interval: object) -> None:
    clinic_doc["hours"] = {"mon": [interval]}
    with pytest.raises(ValidationError, match=r"closes \(\d\d:\d\d:\d\d\) must be after opens"):
        ClinicConfig.model_validate(clinic_doc)


@pytest.mark.parametrize("interval", ["8:00-12:00", "08:00 to 12:00", "08:00-", "25:00-26:00", "nine to five"])
def test_malformed_short_form_hours_are_refused(clinic_doc: dict[str, Any], interval: str) -> None:
    clinic_doc["hours"] = {"mon": [interval]}
    with pytest.raises(ValidationError):
        ClinicConfig.model_validate(clinic_doc)


def test_an_unknown_weekday_is_refused(clinic_doc: dict[str, Any]) -> None:
    clinic_doc["hours"] = {"monday": ["08:00-12:00"]}
    with pytest.raises(ValidationError) as excinfo:
        ClinicConfig.model_validate(clinic_doc)
    assert errors(excinfo)[0][0] == "hours.monday.[key]"


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ((), "opening_hours"),  # a typo of `hours`
        (("phone",), "ring_second"),
        (("providers", 0), "speciality"),
    ],
)
def test_an_unknown_field_is_refused(clinic_doc: dict[str, Any], path: tuple[str | int, ...], field: str) -> None:
    section: Any = clinic_doc
    for step in path:
        section = section[step]
    section[field] = "x"
    with pytest.raises(ValidationError) as excinfo:
        ClinicConfig.model_validate(clinic_doc)
    assert errors(excinfo) == [(".".join(str(p) for p in (*path, field)), "Extra inputs are not permitted")]


def test_the_answering_service_is_required(clinic_doc: dict[str, Any]) -> None:
    clinic_doc["phone"] = {}
    with pytest.raises(ValidationError) as excinfo:
        ClinicConfig.model_validate(clinic_doc)
    assert errors(excinfo) == [("phone.answering_service", "Field required")]


@pytest.mark.parametrize(("field", "value"), [("ring_seconds", 0), ("ring_seconds", 31), ("rings", 0), ("rings", 11)])
def test_ring_settings_are_bounded(clinic_doc: dict[str, Any], field: str, value: float) -> None:
    clinic_doc["phone"] = {"answering_service": "answering-1", field: value}
    with pytest.raises(ValidationError):
        ClinicConfig.model_validate(clinic_doc)


def test_clinic_configured_with_a_different_clinic_id_is_refused(clinic_doc: dict[str, Any]) -> None:
    config = ClinicConfig.model_validate(clinic_doc)
    assert ClinicConfigured(clinic_id="clinic-1", config=config).record_key() == "clinic-1"
    with pytest.raises(ValidationError, match=r"clinic_id differs from config\.clinic_id"):
        ClinicConfigured(clinic_id="clinic-2", config=config)


@pytest.mark.parametrize("bad_id", ["clinic 1", " clinic-1", "+1 555 123 4567", "", "a/b", "x" * 129, "é"])
def test_ids_with_spaces_or_odd_characters_are_refused(clinic_doc: dict[str, Any], bad_id: str) -> None:
    clinic_doc["clinic_id"] = bad_id
    with pytest.raises(ValidationError) as excinfo:
        ClinicConfig.model_validate(clinic_doc)
    assert errors(excinfo)[0][0] == "clinic_id"


# --- events -------------------------------------------------------------------------------------

CALL = {"call_id": "call-1", "clinic_id": "clinic-1", "caller_token": "tok_1", "received_at": "2026-11-27T10:00:00Z"}
WINDOW_START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def appointment_requested(**overrides: object) -> AppointmentRequested:
    fields: dict[str, object] = {
        "request_id": "req-1",
        "patient_id": "patient-7",
        "clinic_id": "clinic-1",
        "provider_id": "dr-lee",
        "appointment_type": "checkup",
        "starts_at": WINDOW_START,
        "ends_at": WINDOW_START + timedelta(minutes=30),
    }
    fields.update(overrides)
    return AppointmentRequested.model_validate(fields)


@pytest.mark.parametrize("naive", ["2026-11-27T10:00:00", datetime(2026, 11, 27, 10, 0)])
def test_naive_datetimes_are_refused(naive: object) -> None:
    with pytest.raises(ValidationError) as excinfo:
        CallReceived.model_validate({**CALL, "received_at": naive})
    assert [e["type"] for e in excinfo.value.errors()] == ["timezone_aware"]


def test_aware_datetimes_keep_their_offset() -> None:
    call = CallReceived.model_validate({**CALL, "received_at": "2026-11-27T10:00:00+05:30"})
    assert call.received_at.utcoffset() == timedelta(hours=5, minutes=30)
    assert call.received_at == datetime(2026, 11, 27, 4, 30, tzinfo=UTC)


@pytest.mark.parametrize("field", ["call_id", "clinic_id", "caller_token"])
def test_event_ids_with_spaces_are_refused(field: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        CallReceived.model_validate({**CALL, field: "jane doe"})
    assert errors(excinfo)[0][0] == field


def test_events_refuse_unknown_fields_and_are_frozen() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        CallReceived.model_validate({**CALL, "caller_phone": "+1 555 123 4567"})
    call = CallReceived.model_validate(CALL)
    with pytest.raises(ValidationError):
        call.call_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize("length", [timedelta(0), timedelta(minutes=-30)])
def test_an_appointment_must_end_after_it_starts(length: timedelta) -> None:
    with pytest.raises(ValidationError, match="ends_at must be after starts_at"):
        appointment_requested(ends_at=WINDOW_START + length)


def test_an_appointment_window_compares_instants_not_wall_clocks() -> None:
    # 09:00 in New York is 14:00 UTC, so 10:00Z ends before it starts.
    with pytest.raises(ValidationError):
        appointment_requested(starts_at="2026-11-30T09:00:00-05:00", ends_at="2026-11-30T10:00:00Z")
    assert appointment_requested(starts_at="2026-11-30T09:00:00-05:00", ends_at="2026-11-30T14:30:00Z")


def test_the_record_key_is_the_key_field(samples: dict[str, Event]) -> None:
    for event_type, event in samples.items():
        key_field = EVENTS[event_type].model.key_field
        assert key_field in type(event).model_fields
        assert event.record_key() == str(getattr(event, key_field))


# --- registry -----------------------------------------------------------------------------------


def test_event_type_is_the_topic_and_the_registry_key() -> None:
    for event_type, spec in EVENTS.items():
        assert spec.event_type == spec.model.event_type == event_type
        assert spec.topic is None or spec.topic.name == event_type
        assert spec.topic is not None or spec.patterns, f"{event_type} travels nowhere"
        assert spec_for(event_type) is spec
    assert spec_for("call.teleported") is None


def test_what_only_vendors_write_has_no_shared_topic() -> None:
    vendor_only = {t for t, spec in EVENTS.items() if spec.topic is None} - {"call.withdrawn"}
    assert vendor_only == {
        "answering.message_taken",
        "answering.page_sent",
        "answering.page_acknowledged",
        "answering.heartbeat",
        "answering.appointment_requested",
    }
    # what the router says to one vendor alone travels only on that vendor's .calls
    assert EVENTS["call.withdrawn"].topic is None
    assert topic_accepts("call.withdrawn", vendor_calls_topic("acme"))
    assert not topic_accepts("call.withdrawn", vendor_events_topic("acme"))
    for event_type in [*vendor_only, "call.answered", "call.ended"]:
        assert topic_accepts(event_type, vendor_events_topic("acme"))
        assert not topic_accepts(event_type, vendor_calls_topic("acme"))
    assert not topic_accepts("call.received", vendor_events_topic("acme"))
    assert vendor_of_events_topic(vendor_events_topic("acme")) == "acme"
    assert vendor_of_events_topic(vendor_calls_topic("acme")) is None
    assert vendor_of_events_topic("vendor.acme.events.dlq") is None
    assert [t.name for t in vendor_topics("acme")] == [
        "vendor.acme.calls",
        "vendor.acme.events",
        "vendor.acme.events.dlq",
    ]


@pytest.mark.parametrize("bad", ["a.b", "acme.events", "Acme", "-acme", "acme_1", "x" * 64, "a:b", "a@b"])
def test_issue16_item9_a_vendor_id_that_could_share_a_topic_prefix_is_refused(bad: str) -> None:
    # vendor "a" holds the prefix ACL `vendor.a.`: with dots allowed, it would also hold vendor
    # "a.b"'s `vendor.a.b.calls` and `vendor.a.b.events`.
    phone: dict[str, Any] = {"answering_service": "acme", "vendors": [{"vendor_id": "acme"}, {"vendor_id": bad}]}
    for section in (
        phone,
        {"answering_service": bad},
        {"answering_service": "acme", "secondary_answering_service": bad},
    ):
        with pytest.raises(ValidationError, match=r"vendor id .* must be 1-63 lower-case letters, digits or dashes"):
            ClinicConfig.model_validate({"clinic_id": "c1", "name": "C", "timezone": "UTC", "phone": section})
    with pytest.raises(ValueError, match="no dots"):
        vendor_topics(bad)
    assert not any(re.match(p, f"vendor.{bad}.events") for p in TOPIC_PATTERNS["answering.heartbeat"])
    assert not any(re.match(p, f"vendor.{bad}.calls") for p in TOPIC_PATTERNS["call.overflowed"])


@pytest.mark.parametrize("good", ["acme", "nightowl-answering", "a", "9", "x" * 63, "test-vendor-2"])
def test_vendor_ids_are_dns_labels(good: str) -> None:
    phone = {"answering_service": good}
    ClinicConfig.model_validate({"clinic_id": "c1", "name": "C", "timezone": "UTC", "phone": phone})
    assert topic_accepts("answering.heartbeat", f"vendor.{good}.events")


def test_every_event_topic_exists_with_a_dead_letter_twin() -> None:
    topics = {t.name: t for t in all_topics()}
    assert len(topics) == len(all_topics()), "topic names are unique"
    shared = {t for t, spec in EVENTS.items() if spec.topic is not None}
    assert set(topics) == shared | {dlq_topic(t) for t in shared}
    for event_type, spec in EVENTS.items():
        if spec.topic is None:
            continue
        assert topics[event_type] == spec.topic
        dlq = topics[f"{event_type}.dlq"]
        assert dlq_topic(event_type) == dlq.name
        assert not dlq.compacted
        assert dlq.max_message_bytes > spec.topic.max_message_bytes
        assert dlq.retention_ms > spec.topic.retention_ms
        assert dlq.config()["cleanup.policy"] == "delete"


def test_only_the_configuration_topics_are_compacted() -> None:
    topics = {t.name: t for t in all_topics()}
    compacted = {name for name, t in topics.items() if t.compacted}
    assert compacted == {"clinic.configured", "network.configured"}
    assert topics["clinic.configured"].config() == {
        "cleanup.policy": "compact",
        "retention.ms": "-1",
        "max.message.bytes": str(1024 * 1024),
    }
    assert topics["call.received"].config()["cleanup.policy"] == "delete"
    assert topics["call.received"].config()["retention.ms"] == str(7 * 24 * 3600 * 1000)


def test_a_page_and_its_acknowledgement_name_exactly_one_urgent_message_or_call() -> None:
    page = {
        "page_id": "call:call-1:0:1",
        "clinic_id": "clinic-1",
        "vendor_id": "answering-1",
        "provider_id": "dr-1",
        "step": 0,
        "resend": 1,
        "escalated": False,
        "requested_at": "2026-03-02T10:00:00Z",
    }
    assert OnCallPageRequested.model_validate({**page, "call_id": "call-1"}).message_id is None
    assert OnCallPageRequested.model_validate({**page, "message_id": "msg-1"}).call_id is None
    ack = {
        "vendor_id": "answering-1",
        "clinic_id": "clinic-1",
        "provider_id": "dr-1",
        "acknowledged_at": "2026-03-02T10:01:00Z",
    }
    assert VendorPageAcknowledged.model_validate({**ack, "call_id": "call-1"}).call_id == "call-1"
    for model, base in ((OnCallPageRequested, page), (VendorPageAcknowledged, ack)):
        with pytest.raises(ValidationError, match="exactly one of message_id"):
            model.model_validate(base)
        with pytest.raises(ValidationError, match="exactly one of message_id"):
            model.model_validate({**base, "call_id": "call-1", "message_id": "msg-1"})


def test_a_network_fallback_follows_the_vendor_rules_of_a_phone_section() -> None:
    fallback = NetworkFallback(answering_service="va", secondary_answering_service="vb")
    assert fallback.vendor_ids() == ["va", "vb"]
    assert fallback.phone().ring_budget_seconds == 18
    assert NetworkConfigured(fallback=fallback).record_key() == "network"
    with pytest.raises(ValidationError, match="secondary_answering_service must differ"):
        NetworkFallback(answering_service="va", secondary_answering_service="va")
    with pytest.raises(ValidationError, match="answering_service: vendor 'vx' is not in vendors"):
        NetworkFallback(answering_service="vx", vendors=[{"vendor_id": "va"}])
    with pytest.raises(ValidationError, match="Extra inputs"):
        NetworkFallback.model_validate({"answering_service": "va", "pools": []})


def test_a_network_fallback_whose_vendor_cannot_answer_within_its_budget_is_refused() -> None:
    from frontdesk.common.contracts.phone import NetworkFallback

    slow = [{"vendor_id": "fb-a", "answer_target_seconds": 30}]
    refused = r"fallback cannot reach a live human .* vendor fb-a needs 30 s .* 12 s missing"
    with pytest.raises(ValueError, match=refused):
        NetworkFallback(answering_service="fb-a", vendors=slow)
    assert NetworkFallback(answering_service="fb-a", vendors=slow, rings=5).phone().ring_budget_seconds == 30


@pytest.mark.parametrize(
    ("number", "valid"),
    [
        ("+6834002", True),  # Niue: 7 digits in all, the shortest plan there is
        ("+14155550123", True),
        ("+977014412345", True),  # Nepal
        ("+123456789012345", True),  # 15 digits, E.164's most
        ("+1234567890123456", False),
        ("+683400", False),
        ("+04155550123", False),  # no country code starts with 0
        ("14155550123", False),
        ("+1 415 555 0123", False),
        ("+14155550123\n", False),
    ],
)
def test_one_e164_for_every_phone_number(number: str, valid: bool) -> None:
    """The APIs that take a number (callers, followup's contacts, booking links) and the sealed numbers
    all check this one pattern, so a number one of them takes the others take too."""
    assert (re.fullmatch(E164, number) is not None) is valid
    as_field = TypeAdapter(Annotated[str, Field(pattern=E164)])
    try:
        as_field.validate_python(number)
    except ValidationError:
        assert not valid
    else:
        assert valid


def test_a_presence_change_counts_from_no_later_than_it_was_heard() -> None:
    heard = datetime(2026, 12, 7, 21, 0, tzinfo=UTC)

    def change(at: datetime) -> AgentStatusChanged:
        return AgentStatusChanged(clinic_id="c1", receptionist_id="r1", status="available", changed_at=at)

    assert change(heard - timedelta(seconds=3)).changed_by(heard) == heard - timedelta(seconds=3)
    assert change(heard + timedelta(days=365)).changed_by(heard) == heard  # a desk phone set to next year
