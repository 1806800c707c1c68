"""Paging escalation and the routine digest time (domain.md section 1, answering-service vendors)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from frontdesk.call_router.domain.vendor_messages import digest_due_at, next_page, page_schedule, sent_page
from frontdesk.call_router.paging import Paged
from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.contracts.phone import OnCallStep
from frontdesk.common.timer_payloads import OncallPageTimer

T0 = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)
ROSTER = [
    OnCallStep(provider_id="dr-a", resend_every_seconds=120, escalate_after_seconds=900),
    OnCallStep(provider_id="dr-b", resend_every_seconds=120, escalate_after_seconds=900),
]


def test_resend_every_two_minutes_then_the_backup_at_fifteen() -> None:
    pages = page_schedule(ROSTER, T0, T0 + timedelta(minutes=20))
    first = [p for p in pages if p.provider_id == "dr-a"]
    assert [(p.at - T0).total_seconds() / 60 for p in first] == [0, 2, 4, 6, 8, 10, 12, 14]
    backup = [p for p in pages if p.provider_id == "dr-b"]
    assert [(p.at - T0).total_seconds() / 60 for p in backup] == [15, 17, 19]
    assert (backup[0].step, backup[0].resend) == (1, 0)


def test_the_last_step_keeps_being_resent_until_acknowledged() -> None:
    pages = page_schedule(ROSTER, T0, T0 + timedelta(hours=2))
    assert pages[-1].provider_id == "dr-b"
    assert len([p for p in pages if p.provider_id == "dr-b"]) == 53  # 15 min .. 119 min, every 2 min


def test_next_page_is_what_the_timer_waits_for() -> None:
    assert next_page(ROSTER, T0, T0) == page_schedule(ROSTER, T0, T0 + timedelta(minutes=3))[1]
    assert next_page(ROSTER, T0, T0 + timedelta(minutes=14, seconds=30)).provider_id == "dr-b"  # type: ignore[union-attr]
    assert next_page([], T0, T0) is None


def clinic(closures: list[str] | None = None) -> ClinicConfig:
    return ClinicConfig.model_validate(
        {
            "clinic_id": "c",
            "name": "C",
            "timezone": "America/New_York",
            "hours": {d: ["08:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")},
            "closures": closures or [],
            "phone": {"answering_service": "v"},
        }
    )


def test_a_routine_message_waits_for_the_next_opening_in_local_time() -> None:
    sunday_night = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)  # Sunday 22:00 EST
    assert digest_due_at(clinic(), sunday_night) == datetime(2026, 11, 30, 13, 0, tzinfo=UTC)  # Mon 08:00 EST
    # a closure on Monday: Tuesday morning
    assert digest_due_at(clinic(["2026-11-30"]), sunday_night) == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    open_now = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    assert digest_due_at(clinic(), open_now) == open_now


def test_dst_fall_back_weekend_opens_at_local_eight() -> None:
    saturday = datetime(2026, 10, 31, 22, 0, tzinfo=UTC)  # EDT; clocks go back on Sunday
    assert digest_due_at(clinic(), saturday) == datetime(2026, 11, 2, 13, 0, tzinfo=UTC)  # Mon 08:00 EST


def test_a_clinic_that_never_opens_has_no_digest_time() -> None:
    never = ClinicConfig.model_validate(
        {"clinic_id": "n", "name": "N", "timezone": "UTC", "phone": {"answering_service": "v"}}
    )
    assert digest_due_at(never, T0) is None


def test_an_urgent_call_s_pages_follow_the_same_schedule_under_their_own_ids() -> None:
    # The roster of the integration test: the second escalation (the backup) is paged 4 s in.
    roster = [
        OnCallStep(provider_id="dr-first", resend_every_seconds=1, escalate_after_seconds=2),
        OnCallStep(provider_id="dr-first", channel="mobile", resend_every_seconds=1, escalate_after_seconds=2),
        OnCallStep(provider_id="dr-backup", resend_every_seconds=60),
    ]
    pages = page_schedule(roster, T0, T0 + timedelta(seconds=5))
    assert [((p.at - T0).total_seconds(), p.step, p.resend) for p in pages] == [
        (0, 0, 0),
        (1, 0, 1),
        (2, 1, 0),
        (3, 1, 1),
        (4, 2, 0),
    ]
    call, message = Paged(call_id="call-1"), Paged(message_id="msg-1")
    assert (call.page_id(pages[4]), call.timer_key(5), call.ids()) == (
        "call:call-1:2:0",
        "call-page:call-1:5",
        {"call_id": "call-1"},
    )
    assert (message.page_id(pages[4]), message.timer_key(5)) == ("msg-1:2:0", "page:msg-1:5")
    stored = {"clinic_id": "c1", "call_id": "call-1", "at": "2030-01-01T09:00:00+00:00"}  # a page timer's row
    assert Paged.of(OncallPageTimer.model_validate(stored)) == call


def test_a_vendor_handed_the_call_while_it_is_paged_is_sent_the_latest_page_requested() -> None:
    call = Paged(call_id="call-1")
    # 17 min in, the timer of the backup's 17 min re-send may not have fired yet: the latest
    # page requested is the one handed over, not the one the schedule says is due.
    late = sent_page(ROSTER, T0, T0 + timedelta(minutes=17), call.page_id, "call:call-1:1:0")
    assert late is not None and (late.provider_id, late.step, late.resend) == ("dr-b", 1, 0)
    assert sent_page(ROSTER, T0, T0, call.page_id, "call:call-1:0:0") == page_schedule(ROSTER, T0, T0 + timedelta(1))[0]
    assert (
        sent_page(ROSTER[:1], T0, T0 + timedelta(minutes=17), call.page_id, "call:call-1:1:0") is None
    )  # roster changed
