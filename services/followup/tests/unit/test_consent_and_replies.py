"""The consent ledger and what a reply means: opt-out words always work, START restores only what
a reply took away, 1/2/3 answer a reminder, and concern words reach staff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from frontdesk.followup.domain import consent
from frontdesk.followup.domain.consent import ConsentEntry
from frontdesk.followup.domain.replies import OPT_OUT_WORDS, classify

T0 = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def registered() -> list[ConsentEntry]:
    return [ConsentEntry("treatment", True, T0, "registration"), ConsentEntry("feedback", True, T0, "registration")]


def test_latest_entry_decides() -> None:
    ledger = [*registered(), ConsentEntry("feedback", False, T0 + timedelta(hours=1), "staff")]
    assert consent.state(ledger, "treatment") == "granted"
    assert consent.state(ledger, "feedback") == "opted_out"
    assert consent.state(ledger, "marketing") == "none"


def test_stop_turns_every_purpose_off_and_start_restores_only_what_was_on() -> None:
    ledger = registered()
    stopped = consent.opt_out_all(ledger, T0 + timedelta(minutes=1))
    assert {(e.purpose, e.opted_in) for e in stopped} == {
        ("treatment", False),
        ("feedback", False),
        ("marketing", False),
    }
    ledger += stopped
    assert all(consent.state(ledger, p) == "opted_out" for p in consent.PURPOSES)
    assert consent.opt_out_all(ledger, T0 + timedelta(minutes=2)) == []  # a second STOP changes nothing
    started = consent.opt_back_in(ledger, T0 + timedelta(minutes=3))
    assert {e.purpose for e in started} == {"treatment", "feedback"}  # never marketing: it was not given
    ledger += started
    assert consent.state(ledger, "marketing") == "opted_out"


def test_start_does_not_undo_a_staff_opt_out() -> None:
    ledger = [*registered(), ConsentEntry("feedback", False, T0 + timedelta(minutes=1), "staff")]
    assert consent.opt_back_in(ledger, T0 + timedelta(minutes=2)) == []


@pytest.mark.parametrize("word", [*OPT_OUT_WORDS, "stop", " Stop. ", "opt-out", "OPTOUT", "Unsubscribe!", "STOP ALL"])
def test_every_opt_out_word_works(word: str) -> None:
    meaning = classify(word)
    assert meaning.opt_out and meaning.answer is None and not meaning.opt_in


@pytest.mark.parametrize("text", ["please stop texting me", "stop", "I want to unsubscribe", "quit sending"])
def test_opt_out_inside_a_sentence(text: str) -> None:
    assert classify(text).opt_out


@pytest.mark.parametrize(("text", "answer"), [("1", "confirm"), (" 2 ", "cancel"), ("3.", "reschedule")])
def test_answers(text: str, answer: str) -> None:
    meaning = classify(text)
    assert meaning.answer == answer and not meaning.opt_out


def test_start_and_concerns() -> None:
    assert classify("START").opt_in
    assert classify("my tooth still hurts").concern == "routine"
    assert classify("chest pain, can't breathe").concern == "urgent"
    assert not classify("thanks, see you then").recognised
    both = classify("STOP the pain is worse")
    assert both.opt_out and both.concern == "routine"


@given(st.sampled_from(OPT_OUT_WORDS), st.text(alphabet=" .!,", max_size=3), st.booleans())
def test_opt_out_words_survive_case_and_punctuation(word: str, noise: str, lower: bool) -> None:
    assert classify(noise + (word.lower() if lower else word) + noise).opt_out
