"""What becomes of a booking code that does not go out at once: a transient provider failure is tried
again on a timer (never past the hold), then the page is told; which reasons are told at all (never an
opted-out number's). The database is a stand-in here: only the decisions are under test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from frontdesk.common.contracts import (
    BOOKING_CODES_RECIPIENT,
    BookingCodeFailed,
    BookingCodeRequested,
    booking_code_aad,
)
from frontdesk.common.sealing import Keyring
from frontdesk.common.timer_payloads import BookingCodeRetryTimer, TimerPayload
from frontdesk.followup import booking_codes

KEYS = Keyring().rotated(BOOKING_CODES_RECIPIENT, "k1", b"k" * 32)


class Conn:
    async def execute(self, *_: object) -> str:
        return "INSERT 0 1"  # every decision is the first


class Uow:
    def __init__(self) -> None:
        self.conn = Conn()
        self.timers: dict[str, tuple[datetime, TimerPayload]] = {}
        self.emitted: list[object] = []

    async def set_timer(self, key: str, due_at: datetime, payload: TimerPayload) -> None:
        self.timers[key] = (due_at, payload)

    async def emit(self, event: object) -> None:
        self.emitted.append(event)


def requested(expires_in: timedelta) -> BookingCodeRequested:
    sealed = KEYS.seal(
        BOOKING_CODES_RECIPIENT, '{"phone": "+14155550123", "code": "123456"}', booking_code_aad("c", "bk-1")
    )
    return BookingCodeRequested(
        verification_id="bk-1", clinic_id="c", expires_at=datetime.now(UTC) + expires_in, sealed=sealed
    )


async def test_a_transient_failure_is_tried_again_three_times_then_the_page_is_told() -> None:
    event, now = requested(timedelta(minutes=5)), datetime.now(UTC)
    delays = []
    for attempt in range(3):
        uow = Uow()
        await booking_codes._retry(uow, event, attempt, now)  # type: ignore[arg-type]
        [(key, (due_at, payload))] = uow.timers.items()
        assert isinstance(payload, BookingCodeRetryTimer) and payload.attempt == attempt + 1 and not uow.emitted
        assert key.endswith(f":{attempt + 1}")  # a key of its own: the firing timer's key is never reused
        stored = payload.model_dump_json()
        assert BookingCodeRetryTimer.model_validate_json(stored).event == event  # still sealed, nothing readable
        assert "+14155550123" not in stored and "123456" not in stored
        delays.append(due_at - now)
    assert delays == list(booking_codes.RETRY_DELAYS)
    uow = Uow()
    await booking_codes._retry(uow, event, 3, now)  # type: ignore[arg-type]
    [failed] = uow.emitted
    assert not uow.timers and isinstance(failed, BookingCodeFailed) and failed.reason == "provider_unavailable"


async def test_no_try_is_planned_past_the_hold() -> None:
    uow = Uow()
    await booking_codes._retry(uow, requested(timedelta(seconds=4)), 0, datetime.now(UTC))  # type: ignore[arg-type]
    [failed] = uow.emitted
    assert not uow.timers and isinstance(failed, BookingCodeFailed) and failed.reason == "provider_unavailable"


@pytest.mark.parametrize(
    ("reason", "told"),
    [
        ("permanent_failure", "undeliverable"),
        ("frequency_cap", "clinic_limit"),
        ("expired", "expired"),
        ("unreadable", "not_configured"),
        ("opted_out", None),  # never: it would tell anyone typing a number that a patient said STOP
    ],
)
async def test_what_the_page_is_told_by_reason(reason: str, told: str | None) -> None:
    uow = Uow()
    await booking_codes._decide(uow, requested(timedelta(minutes=5)), "skipped", reason)  # type: ignore[arg-type]
    assert [e.reason for e in uow.emitted] == ([told] if told else [])  # type: ignore[attr-defined]


async def test_a_sent_code_tells_the_page_nothing() -> None:
    uow = Uow()
    await booking_codes._decide(uow, requested(timedelta(minutes=5)), "sent", provider_message_id="p-1")  # type: ignore[arg-type]
    assert uow.emitted == []
