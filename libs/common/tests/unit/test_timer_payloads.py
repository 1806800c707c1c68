"""The timer payload models: one per kind, named in one style, frozen and strict, and the rows stored
before the models (the JSON the services wrote as dicts, and the migrations' SQL) parse into them and
are written back as the same JSON."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

import pytest
from pydantic import ValidationError

from frontdesk.common.contracts import (
    BOOKING_CODES_RECIPIENT,
    BookingCodeRequested,
    BookingLinkRequested,
    booking_code_aad,
    booking_link_aad,
)
from frontdesk.common.sealing import Keyring
from frontdesk.common.service import ServiceDefinition
from frontdesk.common.timer_payloads import (
    ALL_TIMER_PAYLOADS,
    TIMER_PAYLOADS,
    HoldExpiryTimer,
    OncallPageTimer,
    ReminderTimer,
    TimerPayload,
)
from frontdesk.common.timers import UnreadablePayload, parse_payload

KEYS = Keyring().rotated(BOOKING_CODES_RECIPIENT, "k1", b"k" * 32)
AT = datetime(2030, 1, 1, 9, 30, tzinfo=UTC)


def _code_event() -> dict[str, Any]:
    sealed = KEYS.seal(BOOKING_CODES_RECIPIENT, '{"phone": "+14155550123", "code": "1"}', booking_code_aad("c", "bk"))
    event = BookingCodeRequested(verification_id="bk", clinic_id="c", expires_at=AT, sealed=sealed)
    return event.model_dump(mode="json")


def _link_event() -> dict[str, Any]:
    sealed = KEYS.seal(BOOKING_CODES_RECIPIENT, '{"phone": "+14155550123"}', booking_link_aad("c", "bl"))
    event = BookingLinkRequested(link_id="bl", clinic_id="c", expires_at=AT, requested_at=AT, sealed=sealed)
    return event.model_dump(mode="json")


# Each kind's payload as the code before the models wrote it (json.dumps of a dict; datetimes by
# isoformat()), or as a migration's SQL did.
STORED: dict[str, list[dict[str, Any]]] = {
    "awaiting_clinic": [{"clinic_id": "c-1"}],
    "ring_timeout": [{"call_id": "call-1", "clinic_id": "c-1", "attempt": 2}],
    "vendor_answer": [{"call_id": "call-1", "clinic_id": "c-1", "vendor_id": "v-1", "attempt": 1}],
    "vendor_hedge": [{"call_id": "call-1", "clinic_id": "c-1", "vendor_id": "v-2"}],
    "vendor_topics": [{}, {"vendor_ids": ["v-1", "v-2"]}],  # the second: migrations/010
    "oncall_page": [
        {"clinic_id": "c-1", "message_id": "m-1", "at": AT.isoformat()},
        {"clinic_id": "c-1", "call_id": "call-1", "at": AT.isoformat()},
    ],
    "digest_release": [{"digest_id": "d-1", "clinic_id": "c-1"}],
    "callers_prune": [{}],
    "hold_expiry": [{"appointment_id": "apt-1"}],
    "reminder": [{"appointment_id": "apt-1", "offset": "P1D", "starts_at": AT.isoformat()}],
    "hl7_held": [{"clinic_id": "c-1"}],
    "offer_expiry": [{"batch_id": "b-1"}],
    "reschedule_window": [{"reschedule_id": "r-1"}],
    "send_message": [{"message_request_id": "mr-1"}],
    "callback_escalate": [{"callback_id": "cb-1"}],
    "booking_code_retry": [{"event": _code_event(), "attempt": 1}],
    "booking_link_send": [{"event": _link_event(), "seq": 1, "failures": 0}],
    "review.send": [{"review_request_id": "rr-1"}],  # also migrations/002
    "review.recovery_deadline": [{"task_id": "rt-rr-1"}],
    "reputation.weekly": [{}],  # migrations/002
}


def test_every_kind_has_one_model_named_after_it() -> None:
    assert len(TIMER_PAYLOADS) == len(ALL_TIMER_PAYLOADS)  # no kind twice
    for kind, model in TIMER_PAYLOADS.items():
        camel = "".join(word.capitalize() for word in re.split(r"[._]", kind))
        assert model.__name__ == f"{camel}Timer", kind


def test_rows_stored_before_the_models_parse_and_are_written_back_in_the_same_shape() -> None:
    assert set(STORED) == set(TIMER_PAYLOADS)
    for kind, rows in STORED.items():
        for row in rows:
            payload = parse_payload(TIMER_PAYLOADS[kind], json.loads(json.dumps(row)))
            written = json.loads(payload.model_dump_json(exclude_defaults=True))
            assert written == row, kind
            assert parse_payload(TIMER_PAYLOADS[kind], written) == payload, kind


def test_a_payload_is_typed_and_frozen() -> None:
    reminder = parse_payload(ReminderTimer, STORED["reminder"][0])
    assert reminder.starts_at == AT and reminder.offset == "P1D"
    with pytest.raises(ValidationError):
        reminder.offset = "PT2H"  # type: ignore[misc]


@pytest.mark.parametrize(
    "stored",
    [
        {},  # a field missing
        {"appointment_id": 17},  # an id that is not a string
        {"appointment_id": "apt-1", "patient_name": "Jane Roe"},  # a field nobody declared
        "apt-1",  # not an object
    ],
)
def test_a_payload_that_does_not_parse_is_reported_by_field_never_by_value(stored: Any) -> None:
    with pytest.raises(UnreadablePayload) as caught:
        parse_payload(HoldExpiryTimer, stored)
    message = str(caught.value)
    assert message.startswith("the payload of a hold_expiry timer does not parse:")
    assert "Jane" not in message and "17" not in message and "apt-1" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__  # no traceback with the values


def test_a_page_timer_is_for_a_message_or_a_call() -> None:
    for ids in ({}, {"message_id": "m-1", "call_id": "call-1"}):
        with pytest.raises(UnreadablePayload):
            parse_payload(OncallPageTimer, {"clinic_id": "c-1", **ids, "at": AT.isoformat()})


def test_the_base_model_is_strict_about_unknown_fields() -> None:
    assert TimerPayload.model_config.get("extra") == "forbid" and TimerPayload.model_config.get("frozen")


async def _never(timer: object, uow: object) -> None:
    raise AssertionError("not fired here")


def test_a_service_fires_only_registered_kinds() -> None:
    class Unregistered(TimerPayload):
        kind: ClassVar[str] = "unregistered"

    ServiceDefinition(name="t", handlers={}, timer_handlers={HoldExpiryTimer: _never})
    with pytest.raises(ValueError, match="Unregistered"):
        ServiceDefinition(name="t", handlers={}, timer_handlers={Unregistered: _never})
