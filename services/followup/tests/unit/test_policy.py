"""Properties of the whole contact policy: whatever the history, zone, DST or request, a decision to
send is never in quiet hours, never over a cap, never after an opt-out, never past its expiry."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo, available_timezones

from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.followup.domain import consent
from frontdesk.followup.domain.caps import DEFAULT_CAPS, within_caps
from frontdesk.followup.domain.consent import ConsentEntry
from frontdesk.followup.domain.policy import Recipient, decide
from frontdesk.followup.domain.quiet_hours import FEDERAL, STATE_RULES, QuietRule

T0 = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)
NY = ZoneInfo("America/New_York")
ZONES = ["America/New_York", "America/Los_Angeles", "Europe/London", "Australia/Sydney", "Asia/Kolkata", "UTC"]


def granted() -> list[ConsentEntry]:
    return [ConsentEntry(p, True, T0 - timedelta(days=30), "registration") for p in ("treatment", "feedback")]


def recipient(zone: ZoneInfo = NY, rule: QuietRule = FEDERAL, reachable: bool = True) -> Recipient:
    return Recipient(reachable=reachable, zone=zone, rule=rule)


def test_skips_in_order() -> None:
    common = {"now": T0, "purpose": "treatment", "sent_same_purpose": []}
    assert decide(ledger=granted(), recipient=recipient(reachable=False), **common).skip == "no_contact_details"  # type: ignore[arg-type]
    stopped = [*granted(), ConsentEntry("treatment", False, T0 - timedelta(minutes=1), "reply")]
    assert decide(ledger=stopped, recipient=recipient(), **common).skip == "opted_out"  # type: ignore[arg-type]
    assert decide(ledger=[], recipient=recipient(), **common).skip == "no_consent"  # type: ignore[arg-type]
    ok = decide(ledger=granted(), recipient=recipient(), **common)  # type: ignore[arg-type]
    assert ok.send_now and ok.send_at == T0


def test_quiet_hours_defer_and_expiry_skips() -> None:
    late = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 22:00 in New York
    d = decide(now=late, purpose="treatment", ledger=granted(), recipient=recipient(), sent_same_purpose=[])
    assert d.skip is None and d.send_at == datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
    d = decide(
        now=late,
        purpose="treatment",
        ledger=granted(),
        recipient=recipient(),
        sent_same_purpose=[],
        expires_at=late + timedelta(hours=2),
    )
    assert d.skip == "expired"


def test_a_cap_defers_or_skips() -> None:
    d = decide(
        now=T0,
        purpose="treatment",
        ledger=granted(),
        recipient=recipient(),
        sent_same_purpose=[T0 - timedelta(hours=3)],
    )
    # The cap clears at T0 + 21 h = 07:00 in New York: quiet hours then wait for 08:00.
    assert d.send_at == datetime(2026, 11, 28, 13, 0, tzinfo=UTC)
    d = decide(
        now=T0,
        purpose="treatment",
        ledger=granted(),
        recipient=recipient(),
        sent_same_purpose=[T0 - timedelta(hours=3)],
        expires_at=T0 + timedelta(hours=5),
    )
    assert d.skip == "frequency_cap"
    # Feedback has no default cap of its own (reviews applies its 90-day rule).
    d = decide(
        now=T0, purpose="feedback", ledger=granted(), recipient=recipient(), sent_same_purpose=[T0 - timedelta(hours=3)]
    )
    assert d.send_now


def test_not_before_is_honoured() -> None:
    d = decide(
        now=T0,
        purpose="treatment",
        ledger=granted(),
        recipient=recipient(),
        sent_same_purpose=[],
        not_before=T0 + timedelta(hours=2),
    )
    assert d.send_at == T0 + timedelta(hours=2)


ledger_entries = st.lists(
    st.builds(
        ConsentEntry,
        st.sampled_from(consent.PURPOSES),
        st.booleans(),
        st.integers(0, 60 * 24 * 10).map(lambda m: T0 - timedelta(minutes=m)),
        st.sampled_from(["registration", "staff", "reply", "import"]),
    ),
    max_size=6,
)
instants = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC))


@settings(max_examples=400)
@given(
    now=instants,
    zone=st.sampled_from(ZONES).map(ZoneInfo),
    rule=st.sampled_from([FEDERAL, *STATE_RULES.values(), QuietRule.uniform(time(11), time(15))]),
    purpose=st.sampled_from(consent.PURPOSES),
    ledger=ledger_entries,
    sent_offsets=st.lists(st.integers(0, 60 * 24 * 9), max_size=5),
    not_before_min=st.none() | st.integers(-600, 60 * 24 * 3),
    expires_min=st.none() | st.integers(1, 60 * 24 * 4),
)
def test_a_send_decision_never_breaks_a_rule(
    now: datetime,
    zone: ZoneInfo,
    rule: QuietRule,
    purpose: consent.Purpose,
    ledger: list[ConsentEntry],
    sent_offsets: list[int],
    not_before_min: int | None,
    expires_min: int | None,
) -> None:
    # Shift the ledger so that it lies before `now` (entries are in the past).
    ledger = [ConsentEntry(e.purpose, e.opted_in, now - (T0 - e.at), e.source) for e in ledger]
    sent = [now - timedelta(minutes=m) for m in sent_offsets]
    not_before = None if not_before_min is None else now + timedelta(minutes=not_before_min)
    expires_at = None if expires_min is None else now + timedelta(minutes=expires_min)
    d = decide(
        now=now,
        purpose=purpose,
        ledger=ledger,
        recipient=Recipient(True, zone, rule),
        sent_same_purpose=sent,
        not_before=not_before,
        expires_at=expires_at,
    )
    if consent.state(ledger, purpose) != "granted":
        assert d.skip in {"opted_out", "no_consent"} and d.send_at is None
        return
    if d.skip is not None:
        assert d.send_at is None
        return
    assert d.send_at is not None
    assert d.send_at >= now and (not_before is None or d.send_at >= not_before)
    assert rule.allows(d.send_at, zone)
    assert within_caps(sent, d.send_at, DEFAULT_CAPS.get(purpose, ()))
    assert expires_at is None or d.send_at < expires_at


KATHMANDU = ZoneInfo("Asia/Kathmandu")  # +05:45


def test_a_patient_whose_zone_is_unknown_is_reached_only_when_every_zone_of_the_clinic_allows_it() -> None:
    """A clinic in New York with a location in Kathmandu: 08:00-10:15 New York is 18:45-21:00 there."""
    both = Recipient(True, NY, FEDERAL, other_zones=(KATHMANDU,))
    at = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)  # 07:00 New York, 17:45 Kathmandu
    d = decide(now=at, purpose="treatment", ledger=granted(), recipient=both, sent_same_purpose=[])
    assert d.send_at == datetime(2026, 12, 8, 13, 0, tzinfo=UTC)  # 08:00 New York, 18:45 Kathmandu
    at = datetime(2026, 12, 8, 16, 0, tzinfo=UTC)  # 11:00 New York, 21:45 Kathmandu: night there
    d = decide(now=at, purpose="treatment", ledger=granted(), recipient=both, sent_same_purpose=[])
    assert d.send_at == datetime(2026, 12, 9, 13, 0, tzinfo=UTC)
    ct = FEDERAL.intersect(STATE_RULES["CT"])  # 09:00-20:00, twelve hours apart: no minute is in both
    none_common = Recipient(True, NY, ct, other_zones=(ZoneInfo("Asia/Bangkok"),))
    d = decide(now=at, purpose="treatment", ledger=granted(), recipient=none_common, sent_same_purpose=[])
    assert d.skip == "expired"


@settings(max_examples=300, deadline=None)
@given(
    now=st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2031, 1, 1), timezones=st.just(UTC)),
    zones=st.lists(st.sampled_from(sorted(available_timezones())), min_size=1, max_size=3, unique=True),
)
def test_with_several_possible_zones_the_first_minute_all_allow_is_chosen(now: datetime, zones: list[str]) -> None:
    first, *others = (ZoneInfo(z) for z in zones)
    recipient_ = Recipient(True, first, FEDERAL, other_zones=tuple(others))
    d = decide(now=now, purpose="treatment", ledger=granted(), recipient=recipient_, sent_same_purpose=[])
    if d.skip is not None:  # three zones far enough apart share no minute of 08:00-21:00
        assert len(zones) == 3 and d.skip == "expired"
        return
    assert d.send_at is not None and d.send_at >= now
    everywhere = (first, *others)
    assert all(FEDERAL.allows(d.send_at, z) for z in everywhere)
    before = d.send_at - timedelta(minutes=1)
    assert before < now or not all(FEDERAL.allows(before, z) for z in everywhere)
