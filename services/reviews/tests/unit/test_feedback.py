"""Low scores, service-recovery deadlines, and public reply drafts that can never carry PHI."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from frontdesk.reviews.domain.feedback import (
    MAX_RE_ESCALATIONS,
    RecoveryTask,
    draft_public_reply,
    is_low,
    leaks,
    on_deadline,
    reply_templates,
    score_problem,
    sentiment,
)

T = datetime(2026, 11, 27, 12, tzinfo=UTC)
DAY = timedelta(hours=24)


@pytest.mark.parametrize(
    ("scale", "score", "low"),
    [
        ("stars", 1, True),
        ("stars", 3, True),
        ("stars", 4, False),
        ("stars", 5, False),
        ("nps", 0, True),
        ("nps", 6, True),
        ("nps", 7, False),
        ("nps", 10, False),
    ],
)
def test_low_scores_are_3_stars_or_less_and_nps_detractors(scale: str, score: int, low: bool) -> None:
    assert is_low(scale, score) is low  # type: ignore[arg-type]


def test_sentiment() -> None:
    assert [sentiment("stars", s) for s in (1, 3, 4, 5)] == ["negative", "negative", "neutral", "positive"]
    assert [sentiment("nps", s) for s in (6, 7, 8, 9)] == ["negative", "neutral", "neutral", "positive"]


def test_score_ranges() -> None:
    assert score_problem("stars", 0) == "the score must be 1-5 on the stars scale"
    assert score_problem("stars", 6) is not None
    assert score_problem("nps", 11) == "the score must be 0-10 on the nps scale"
    assert score_problem("nps", 0) is None and score_problem("stars", 5) is None


def task(**kw: object) -> RecoveryTask:
    base: dict[str, object] = {"level": 1, "due_at": T + DAY, "last_touched_at": None, "armed_at": T, "closed": False}
    base.update(kw)
    return RecoveryTask(**base)  # type: ignore[arg-type]


def test_an_untouched_task_is_escalated_again_and_watched_one_deadline_later() -> None:
    decision = on_deadline(task(), T + DAY, DAY)
    assert decision.escalate and decision.next_check_at == T + 2 * DAY


def test_a_touched_task_is_not_escalated_but_watched_from_the_touch() -> None:
    touched = T + timedelta(hours=5)
    decision = on_deadline(task(last_touched_at=touched), T + DAY, DAY)
    assert not decision.escalate and decision.next_check_at == touched + DAY


def test_a_touch_before_the_deadline_was_armed_does_not_count() -> None:
    assert on_deadline(task(last_touched_at=T - timedelta(hours=1)), T + DAY, DAY).escalate


def test_a_closed_task_stops_and_escalation_is_bounded() -> None:
    assert on_deadline(task(closed=True), T + DAY, DAY).next_check_at is None
    last = on_deadline(task(level=1 + MAX_RE_ESCALATIONS), T + DAY, DAY)
    assert not last.escalate and last.next_check_at is None


# --- public replies: never PHI --------------------------------------------------------------------

TEMPLATE_TEXT = " ".join(reply_templates().values()).lower()


@settings(max_examples=300)
@given(
    tone=st.sampled_from(["positive", "neutral", "negative"]),
    patient=st.from_regex(r"[A-Z][a-z]{3,10} [A-Z][a-z]{3,12}", fullmatch=True),
    provider=st.from_regex(r"Dr\. [A-Z][a-z]{3,12}", fullmatch=True),
    provider_id=st.from_regex(r"dr-[a-z]{3,10}", fullmatch=True),
    reason=st.sampled_from(["diabetes follow-up", "knee injection", "pregnancy test", "depression screening"]),
    visit_day=st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31)),
)
def test_a_reply_draft_contains_no_name_date_reason_or_provider(
    tone: str, patient: str, provider: str, provider_id: str, reason: str, visit_day: date
) -> None:
    sensitive = [
        patient,
        *patient.split(),
        provider,
        provider.split()[-1],
        provider_id,
        reason,
        visit_day.isoformat(),
        visit_day.strftime("%B %-d"),
        visit_day.strftime("%m/%d"),
    ]
    # Values that happen to be ordinary words of the fixed text (e.g. a surname "Team") prove nothing.
    assume(not any(s.lower() in TEMPLATE_TEXT for s in sensitive))
    draft = draft_public_reply(tone, "Maple Street Family Practice")  # type: ignore[arg-type]
    assert leaks(draft, sensitive) == []
    assert draft.endswith("Maple Street Family Practice")


def test_leaks_finds_what_is_there() -> None:
    assert leaks("Thanks Jane, see you on 2026-11-27", ["jane", "2026-11-27", "Bob", "a"]) == ["jane", "2026-11-27"]


def test_drafts_do_not_confirm_a_patient_relationship() -> None:
    for text in reply_templates().values():
        lowered = text.lower()
        for word in ("your visit", "your appointment", "your treatment", "your doctor", "patient"):
            assert word not in lowered
