"""The booking page's rules without I/O: the one-time code (digest, judging, attempts, expiry), the
rolling abuse limits (hypothesis: never more than allowed in any window, and the retry instant is the
first one allowed), what a patient types, and the signed form token."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from frontdesk.scheduler.domain import online_booking as rules
from frontdesk.scheduler.domain.online_booking import CodeState, Entry, Limit, judge, retry_at

NOW = datetime(2026, 3, 8, 9, 0, tzinfo=UTC)
KEY = b"k" * 32


# --- what the patient types ----------------------------------------------------------------------


def test_phone_numbers_as_people_type_them() -> None:
    assert rules.normalize_phone("(415) 555-0123") == "+14155550123"
    assert rules.normalize_phone("1 415 555 0123") == "+14155550123"
    assert rules.normalize_phone("+44 20 7946 0000") == "+442079460000"
    for bad in ("", "555-0123", "+0 123 456 789", "(015) 555-0123", "four one five", "+1" + "2" * 20, "٤١٥٥٥٥٠١٢٣"):
        assert rules.normalize_phone(bad) is None, bad


def test_a_number_read_back_to_its_owner() -> None:
    assert rules.display_phone("+14155550123") == "(415) 555-0123"
    assert rules.display_phone("+442079460000") == "+442079460000"  # outside North America, as E.164
    for typed in ("(415) 555-0123", "+44 20 7946 0000"):
        number = rules.normalize_phone(typed)
        assert number is not None and rules.normalize_phone(rules.display_phone(number)) == number


def test_names_and_codes() -> None:
    assert rules.normalize_name("  Ana   María  López ") == "Ana María López"
    assert rules.normalize_name("") is None and rules.normalize_name("a\x00b") is None
    assert rules.normalize_name("x" * 101) is None
    assert rules.same_name("ana  lópez", "Ana López")
    assert rules.clean_code(" 123-456 ") == "123456"
    assert (
        rules.clean_code("12345") is None and rules.clean_code("12345a") is None and rules.clean_code("١٢٣٤٥٦") is None
    )


# --- the code ------------------------------------------------------------------------------------


def test_a_code_is_six_digits_and_kept_only_as_a_keyed_digest() -> None:
    code = rules.new_code()
    assert len(code) == 6 and code.isdigit()
    stored = rules.code_digest(KEY, "bk-1", code)
    assert code not in stored and len(stored) == 64
    assert rules.code_matches([b"old" * 11, KEY], "bk-1", code, stored)  # any key of the ring (rotation)
    assert not rules.code_matches([KEY], "bk-2", code, stored)  # bound to its attempt
    assert not rules.code_matches([b"other" * 7], "bk-1", code, stored)


@given(
    status=st.sampled_from(["pending", "confirmed", "locked", "expired", "released", "undelivered"]),
    attempts=st.integers(0, rules.MAX_ATTEMPTS - 1),
    matches=st.booleans(),
    seconds=st.integers(-600, 600),
)
def test_judging_one_code(status: rules.Status, attempts: int, matches: bool, seconds: int) -> None:
    state = CodeState(status, attempts, NOW)
    verdict = judge(state, matches, NOW + timedelta(seconds=seconds))
    # A booking only from a pending attempt, within its hold, with the right code.
    assert (verdict.outcome == "confirm") == (status == "pending" and seconds < 0 and matches)
    if status != "pending":
        assert verdict.outcome == "closed" and verdict.status == status and verdict.attempts == attempts
    elif seconds >= 0:
        assert verdict.outcome == "expired" and verdict.status == "expired"
    elif not matches:
        assert verdict.attempts == attempts + 1
        assert verdict.outcome == ("locked" if attempts + 1 >= rules.MAX_ATTEMPTS else "wrong")
        assert (verdict.status == "pending") == (verdict.outcome == "wrong")


@given(st.lists(st.booleans(), min_size=1, max_size=20))
def test_a_run_of_tries_books_at_most_once_and_never_after_the_last_wrong_one(tries: list[bool]) -> None:
    state, outcomes = CodeState("pending", 0, NOW + timedelta(minutes=5)), []
    for n, matches in enumerate(tries):
        verdict = judge(state, matches, NOW + timedelta(seconds=n))
        outcomes.append(verdict.outcome)
        state = CodeState(verdict.status, verdict.attempts, state.expires_at)
    assert outcomes.count("confirm") <= 1
    assert outcomes.count("wrong") + outcomes.count("locked") <= rules.MAX_ATTEMPTS
    if "locked" in outcomes:
        assert "confirm" not in outcomes[outcomes.index("locked") :]
        assert outcomes.index("locked") == rules.MAX_ATTEMPTS - 1 and state.status == "locked"
    if "confirm" in outcomes:
        assert set(outcomes[outcomes.index("confirm") + 1 :]) <= {"closed"}


# --- abuse limits --------------------------------------------------------------------------------

limits_strategy = st.lists(
    st.builds(Limit, st.integers(1, 6), st.sampled_from([timedelta(minutes=m) for m in (1, 10, 60, 1440)])),
    min_size=1,
    max_size=3,
)
history = st.lists(st.integers(0, 2 * 86400), max_size=25).map(
    lambda offsets: [NOW - timedelta(seconds=s) for s in offsets]
)


def within(previous: list[datetime], at: datetime, limits: list[Limit]) -> bool:
    return all(rules.in_window(previous, at, limit.window) <= limit.count for limit in limits)


@settings(max_examples=300)
@given(previous=history, limits=limits_strategy)
def test_the_retry_instant_is_the_first_allowed_one(previous: list[datetime], limits: list[Limit]) -> None:
    retry = retry_at(previous, NOW, limits)
    if retry is None:
        assert within([*previous, NOW], NOW, limits)  # one more now stays within every limit
        return
    assert retry > NOW
    assert not within([*previous, NOW], NOW, limits)
    assert retry_at(previous, retry, limits) is None and within([*previous, retry], retry, limits)
    just_before = retry - timedelta(microseconds=1)
    assert retry_at(previous, just_before, limits) is not None


@settings(max_examples=200)
@given(gaps=st.lists(st.integers(0, 4000), min_size=1, max_size=40), limits=limits_strategy)
def test_a_client_that_always_waits_as_told_never_exceeds_a_limit(gaps: list[int], limits: list[Limit]) -> None:
    """Whatever a client does (requests at any pace, honouring each 429's retry time or not), what is
    let through never exceeds any limit in any window."""
    allowed: list[datetime] = []
    at = NOW
    for gap in gaps:
        at += timedelta(seconds=gap)
        if retry_at(allowed, at, limits) is None:
            allowed.append(at)
    for t in allowed:
        for limit in limits:
            assert rules.in_window(allowed, t, limit.window) <= limit.count


def test_the_shipped_limits() -> None:
    three = [NOW - timedelta(minutes=m) for m in (50, 20, 5)]
    retry = retry_at(three, NOW, rules.PHONE_LIMITS)
    assert retry == NOW + timedelta(minutes=10)  # the oldest of three codes in the hour ages out
    assert retry_at(three[1:], NOW, rules.PHONE_LIMITS) is None
    assert rules.limit_key(KEY, "phone", "+14155550123") != rules.limit_key(KEY, "address", "+14155550123")
    assert "4155550123" not in rules.limit_key(KEY, "phone", "+14155550123")


def test_types_for_new_or_existing_patients() -> None:
    assert rules.type_fits("any", True) and rules.type_fits("any", False)
    assert rules.type_fits("new", True) and not rules.type_fits("new", False)
    assert rules.type_fits("existing", False) and not rules.type_fits("existing", True)


# --- the form token ------------------------------------------------------------------------------


@given(clinic=st.text(min_size=1, max_size=60), link=st.none() | st.from_regex(r"[A-Za-z0-9_-]{8,20}", fullmatch=True))
def test_the_form_token_names_its_page_and_nothing_else(clinic: str, link: str | None) -> None:
    entry = Entry(clinic, link, NOW + timedelta(hours=1))
    token = rules.sign_entry(KEY, entry)
    assert rules.open_entry([KEY], token, NOW) == Entry(clinic, link, NOW + timedelta(hours=1))
    assert rules.open_entry([KEY], token, NOW + timedelta(hours=1)) is None  # expired
    assert rules.open_entry([b"x" * 32], token, NOW) is None  # another key
    parts = token.split(".")
    other = rules.sign_entry(KEY, Entry(clinic + "x", link, entry.expires_at)).split(".")[0]
    assert rules.open_entry([KEY], ".".join([other, *parts[1:]]), NOW) is None  # another clinic
    assert rules.open_entry([KEY], "not.a.token", NOW) is None
