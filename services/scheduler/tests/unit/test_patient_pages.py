"""The patient's pages: escaped, no scripts, nothing about the patient; an offer's state from its row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from frontdesk.scheduler.entrypoints import booking_html
from frontdesk.scheduler.entrypoints import patient_html as html
from frontdesk.scheduler.patient_offers import _state

NOW = datetime(2026, 3, 8, 12, tzinfo=UTC)


def test_an_offer_state_follows_its_row_and_its_hold() -> None:
    later, earlier = NOW + timedelta(minutes=5), NOW - timedelta(seconds=1)
    assert _state("open", later, None, NOW) == "open"
    assert _state("open", earlier, None, NOW) == "expired"  # the expiry timer has not fired yet
    assert _state("expired", later, None, NOW) == "expired"
    assert _state("taken", later, None, NOW) == "taken"
    assert _state("accepted", earlier, "booked", NOW) == "booked"
    assert _state("accepted", earlier, "pending", NOW) == "booked"
    assert _state("accepted", earlier, "cancelled", NOW) == "taken"  # the hold lapsed, the slot moved on


def test_when_reads_in_the_clinic_zone_across_dst() -> None:
    # 2026-03-08 is the US spring-forward day: 14:30 UTC is 10:30 in New York (EDT).
    assert html.when(datetime(2026, 3, 8, 14, 30, tzinfo=UTC), ZoneInfo("America/New_York")) == (
        "Sunday, March 8 at 10:30 AM"
    )
    assert html.when(datetime(2026, 3, 7, 15, 30, tzinfo=UTC), ZoneInfo("America/New_York")) == (
        "Saturday, March 7 at 10:30 AM"
    )


@given(practice=st.text(min_size=1, max_size=40), slot=st.text(min_size=1, max_size=40))
def test_every_value_is_escaped_and_no_page_has_a_script(practice: str, slot: str) -> None:
    pages = [
        html.offer_page(practice, slot, "/p/offer/t"),
        html.booked_page(practice, slot),
        html.taken_page(practice, [html.Choice("v", slot)]),
        html.choose_page(practice, slot, [html.Choice(slot, slot)], "/p/reschedule/t", problem=slot),
        html.choose_page(practice, slot, [], "/p/reschedule/t", problem=slot, staff_follow_up=False),
        html.moved_page(practice, slot),
        html.problem_page(slot),
        booking_html.code_page(practice, "e", {"session": slot}, slot, slot, problem=slot, notice=slot),
        booking_html.not_texted_page(practice, "e", {"name": slot, "phone": slot}, slot),
    ]
    for page in pages:
        assert "<script" not in page.lower()  # a value's "<" is always escaped
        assert 'name=viewport content="width=device-width' in page


def test_a_code_that_could_not_be_texted_is_said_with_the_number_and_the_way_back() -> None:
    page = booking_html.not_texted_page("Lakeside", "tok", {"name": "Ana", "phone": "(415) 555-0123"}, "(415) 555-0123")
    assert "We could not text a code to <span class=nowrap>(415) 555-0123</span>" in page and "role=alert" in page
    assert 'action="/p/book/times"' in page and 'name="phone" value="(415) 555-0123"' in page
    assert "call the practice" in page and "released" in page


def test_the_taken_page_says_so_and_keeps_the_patient_on_the_waitlist() -> None:
    page = html.taken_page("Lakeside")
    assert "this slot has been taken" in page and "stay on the waitlist" in page


def test_a_picked_time_must_carry_its_offset() -> None:
    from frontdesk.scheduler.entrypoints.patient_pages import _aware

    assert _aware("2026-03-09T09:30:00-05:00") == datetime(2026, 3, 9, 14, 30, tzinfo=UTC)
    for bad in (None, "", "tomorrow", "2026-03-09T09:30:00", "2026-13-40T99:00:00+00:00", "x" * 5000):
        assert _aware(bad) is None


def test_a_reminders_link_promises_no_call_back() -> None:
    asked = html.choose_page("Lakeside", "Thu 10 Dec 11:00", [], "/p/reschedule/t")
    reminded = html.choose_page("Lakeside", "Thu 10 Dec 11:00", [], "/p/reschedule/t", staff_follow_up=False)
    assert "we will also call you" in asked and "the practice will contact you" in asked
    assert "call" not in reminded.split("Thu 10 Dec 11:00")[1].replace("call the practice", "")
    assert "your appointment stays as it is" in reminded
