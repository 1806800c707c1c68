"""The number a patient proved on a booking page: every combination of what is on file."""

from __future__ import annotations

import itertools

import pytest

from frontdesk.followup.domain.consent import ConsentState
from frontdesk.followup.domain.verified_number import Evidence, weigh

VERIFIED = "+14155550123"
STATES: tuple[ConsentState, ...] = ("none", "granted", "opted_out")


@pytest.mark.parametrize(("treatment", "number_opted_out"), itertools.product(STATES, (False, True)))
def test_no_number_on_file_takes_the_verified_one_and_consent_only_where_nothing_was_decided(
    treatment: ConsentState, number_opted_out: bool
) -> None:
    evidence = weigh(VERIFIED, None, treatment, number_opted_out)
    assert evidence.set_phone and evidence.outcome == "number_added"
    assert evidence.grant_treatment == (treatment == "none" and not number_opted_out)


@pytest.mark.parametrize(("treatment", "number_opted_out"), itertools.product(STATES, (False, True)))
def test_the_same_number_on_file_changes_no_contact(treatment: ConsentState, number_opted_out: bool) -> None:
    evidence = weigh(VERIFIED, VERIFIED, treatment, number_opted_out)
    assert not evidence.set_phone and evidence.outcome == "already_on_file"
    assert evidence.grant_treatment == (treatment == "none" and not number_opted_out)


@pytest.mark.parametrize(("treatment", "number_opted_out"), itertools.product(STATES, (False, True)))
def test_another_number_on_file_is_kept_and_no_consent_is_taken_from_a_number_not_texted(
    treatment: ConsentState, number_opted_out: bool
) -> None:
    assert weigh(VERIFIED, "+14155550199", treatment, number_opted_out) == Evidence(
        False, False, "other_number_on_file"
    )


def test_an_opt_out_is_never_overridden() -> None:
    for on_file in (None, VERIFIED, "+14155550199"):
        for number_opted_out in (False, True):
            assert not weigh(VERIFIED, on_file, "opted_out", number_opted_out).grant_treatment
