"""Whether and when a visit gets its feedback-and-review request, and what the request carries."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from frontdesk.common.contracts import ReviewsSection
from frontdesk.reviews.domain import (
    Consent,
    Preference,
    build_message,
    capped,
    consent_from,
    message_request_id,
    review_request_id,
    scheduled_send_at,
    shift_out_of_quiet_hours,
    skip_reason,
)
from frontdesk.reviews.domain.feedback import SCALE_RANGE

NY = ZoneInfo("America/New_York")
ZONES = [ZoneInfo(z) for z in ("America/New_York", "Europe/London", "Australia/Lord_Howe", "Asia/Kolkata", "UTC")]
SECTION = ReviewsSection.model_validate(
    {
        "review_sites": [
            {"site": "google", "url": "https://g.page/r/clinic-1/review"},
            {"site": "healthgrades", "url": "https://www.healthgrades.com/group-directory/clinic-1"},
        ]
    }
)


def ny(*args: int) -> datetime:
    return datetime(*args, tzinfo=NY)  # type: ignore[misc]


# --- send time: delay, then quiet hours ----------------------------------------------------------


@pytest.mark.parametrize(
    ("completed", "expected"),
    [
        (ny(2026, 11, 27, 10, 0), ny(2026, 11, 27, 12, 0)),  # inside the window: just the delay
        (ny(2026, 11, 27, 18, 59), ny(2026, 11, 27, 20, 59)),  # the last allowed minute
        (ny(2026, 11, 27, 19, 0), ny(2026, 11, 28, 8, 0)),  # 21:00 is quiet: next morning
        (ny(2026, 11, 27, 23, 30), ny(2026, 11, 28, 8, 0)),  # 01:30 next day: that morning
        (ny(2026, 11, 27, 4, 0), ny(2026, 11, 27, 8, 0)),  # 06:00: the same morning
        (ny(2026, 11, 27, 6, 0), ny(2026, 11, 27, 8, 0)),  # exactly 08:00
    ],
)
def test_the_delay_is_shifted_out_of_quiet_hours_in_the_clinic_zone(completed: datetime, expected: datetime) -> None:
    assert scheduled_send_at(completed, SECTION, NY) == expected


def test_dst_the_next_morning_is_8_local_on_both_sides_of_a_change() -> None:
    # 2026-11-01: New York falls back at 02:00. 20:30 EDT on Oct 31 + 2 h is quiet; next 08:00 is EST.
    sent = scheduled_send_at(ny(2026, 10, 31, 20, 30), SECTION, NY)
    assert sent == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)  # 08:00 EST = 13:00 UTC
    # 2026-03-08: spring forward. 22:00 EST on Mar 7 -> 08:00 EDT = 12:00 UTC.
    assert scheduled_send_at(ny(2026, 3, 7, 22, 0), SECTION, NY) == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def test_a_clinic_may_choose_its_delay_and_a_stricter_window() -> None:
    section = ReviewsSection(delay_minutes=0, send_window_opens=time(9), send_window_closes=time(20))
    assert scheduled_send_at(ny(2026, 11, 27, 20, 0), section, NY) == ny(2026, 11, 28, 9, 0)
    assert scheduled_send_at(ny(2026, 11, 27, 19, 59), section, NY) == ny(2026, 11, 27, 19, 59)


@pytest.mark.parametrize(("opens", "closes"), [(time(7), time(21)), (time(8), time(22)), (time(12), time(12))])
def test_a_window_outside_federal_hours_is_refused(opens: time, closes: time) -> None:
    with pytest.raises(ValidationError, match="08:00-21:00"):
        ReviewsSection(send_window_opens=opens, send_window_closes=closes)


@settings(max_examples=300)
@given(
    instant=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)),
    zone=st.sampled_from(ZONES),
    opens=st.integers(8, 12),
    closes=st.integers(13, 21),
)
def test_the_shift_finds_the_first_allowed_minute(instant: datetime, zone: ZoneInfo, opens: int, closes: int) -> None:
    o, c = time(opens), time(closes) if closes < 21 else time(21)
    shifted = shift_out_of_quiet_hours(instant, zone, o, c)
    local = shifted.astimezone(zone)
    assert shifted >= instant
    assert o <= local.time() < c  # allowed
    assert shifted - instant < timedelta(hours=25)
    if shifted != instant:  # the minute before was quiet: nothing allowed was skipped
        assert not (o <= (shifted - timedelta(minutes=1)).astimezone(zone).time() < c)
        assert local.time() == o


# --- consent ------------------------------------------------------------------------------------

T = datetime(2026, 11, 27, 12, tzinfo=UTC)


def test_no_record_means_neither_opted_out_nor_in() -> None:
    assert consent_from([]) == Consent(opted_out=False, opted_in=False)


def test_an_all_channel_opt_out_opts_out_and_a_later_start_opts_back_in() -> None:
    stop = Preference(None, False, T)
    assert consent_from([stop]).opted_out
    assert consent_from([stop, Preference("sms", True, T + timedelta(hours=1))]) == Consent(False, True)
    # An older START does not undo a newer STOP.
    assert consent_from([stop, Preference(None, True, T - timedelta(days=1))]).opted_out


def test_one_channel_opted_out_leaves_the_other_to_followup() -> None:
    assert not consent_from([Preference("sms", False, T)]).opted_out
    assert consent_from([Preference("sms", False, T), Preference("email", False, T)]).opted_out


# --- eligibility --------------------------------------------------------------------------------


def reason(section: ReviewsSection = SECTION, **kw: object) -> str | None:
    args: dict[str, object] = {
        "visit_type": "general",
        "section": section,
        "consent": Consent(False, False),
        "send_at": T,
        "other_requests": [],
    }
    args.update(kw)
    return skip_reason(**args)  # type: ignore[arg-type]


def test_an_ordinary_visit_is_eligible() -> None:
    assert reason() is None


def test_each_skip_reason() -> None:
    assert reason(ReviewsSection(excluded_visit_types=["behavioral-health"]), visit_type="behavioral-health") == (
        "visit_type_excluded"
    )
    assert reason(consent=Consent(opted_out=True, opted_in=False)) == "opted_out"
    assert reason(ReviewsSection(feedback_consent="explicit")) == "no_consent"
    assert reason(ReviewsSection(feedback_consent="explicit"), consent=Consent(False, True)) is None
    assert reason(other_requests=[T - timedelta(days=89)]) == "frequency_cap"


def test_the_cap_is_90_days_either_way() -> None:
    assert capped(T, [T - timedelta(days=89, hours=23)])
    assert capped(T, [T + timedelta(days=10)])  # a later request already planned (events out of order)
    assert not capped(T, [T - timedelta(days=90)])
    assert not capped(T, [])


# --- the request itself -------------------------------------------------------------------------


def test_ids_are_derived_and_bounded() -> None:
    assert review_request_id("visit-1") == "rr-visit-1"
    assert message_request_id("rr-visit-1") == "reviews:rr-visit-1"
    long = "v" * 128
    assert len(review_request_id(long)) <= 128
    assert review_request_id(long) == review_request_id(long) != review_request_id("w" * 128)
    assert len(message_request_id(review_request_id(long))) <= 128


def test_the_message_asks_followup_for_a_feedback_message_with_non_personal_variables() -> None:
    send_at = ny(2026, 11, 27, 12, 0)
    message = build_message(
        review_request_id="rr-visit-1",
        patient_id="pat-1",
        clinic_id="clinic-1",
        feedback_link="https://feedback.example/v1/feedback/tok",
        section=SECTION,
        send_at=send_at,
    )
    assert (message.purpose, message.requested_by, message.template) == ("feedback", "reviews", "review-request")
    assert message.message_request_id == "reviews:rr-visit-1"
    assert message.not_before == send_at and message.expires_at == send_at + timedelta(hours=72)
    assert message.variables["feedback_link"] == "https://feedback.example/v1/feedback/tok"
    assert message.variables["review_links"] == (
        "https://g.page/r/clinic-1/review https://www.healthgrades.com/group-directory/clinic-1"
    )
    assert set(message.variables) == {"feedback_link", "review_links"}
    assert "pat-1" not in str(message.variables) and "visit-1" not in str(message.variables)


sites = st.lists(
    st.tuples(st.from_regex(r"[a-z]{2,12}", fullmatch=True), st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True)),
    min_size=0,
    max_size=5,
    unique_by=lambda t: t[0],
)


@settings(max_examples=200)
@given(
    configured=sites,
    patients=st.lists(
        st.tuples(
            st.from_regex(r"pat-[a-z0-9]{1,10}", fullmatch=True), st.sampled_from(["stars", "nps"]), st.integers(0, 10)
        ),
        min_size=1,
        max_size=20,
        unique_by=lambda t: t[0],
    ),
)
def test_every_requested_patient_gets_every_public_link_whatever_the_score(
    configured: list[tuple[str, str]], patients: list[tuple[str, str, int]]
) -> None:
    """No review gating: whatever a patient scored (here: on an earlier visit, long enough ago not to
    be capped), they are eligible and their request carries every public link the clinic configured."""
    section = ReviewsSection.model_validate(
        {"review_sites": [{"site": s, "url": f"https://{s}.example/{path}"} for s, path in configured]}
    )
    expected = [f"https://{s}.example/{path}" for s, path in configured]
    for patient, scale, raw_score in patients:
        low, high = SCALE_RANGE[scale]  # type: ignore[index]
        assert low <= min(max(raw_score, low), high) <= high  # some score on the clinic's scale
        # The score has no way in: neither the decision nor the message takes one.
        assert (
            skip_reason(
                visit_type="general",
                section=section,
                consent=Consent(False, False),
                send_at=T,
                other_requests=[T - timedelta(days=200)],
            )
            is None
        )
        message = build_message(
            review_request_id=f"rr-{patient}",
            patient_id=patient,
            clinic_id="clinic-1",
            feedback_link="https://f.example/t",
            section=section,
            send_at=T,
        )
        linked = message.variables["review_links"].split()
        assert linked == expected


def test_no_rule_of_the_request_can_see_a_score() -> None:
    for function in (skip_reason, build_message, scheduled_send_at):
        parameters = set(inspect.signature(function).parameters)
        assert not {p for p in parameters if "score" in p or "rating" in p or "sentiment" in p}, function
