"""A number a patient proved on a clinic's booking page (they typed the code texted to it, to book a
visit): what followup makes of it. Pure rules; contacts.py applies them.

- No number on file: it becomes the patient's number (an email, zone or channel on file stay).
- The same number on file: nothing to change.
- Another number on file: kept. A contact on file is the registering clinic's to change
  (docs/patients.md); a booking page is no way to redirect where someone's messages go.

Consent for treatment messages (reminders, check-ins, recalls: the TCPA health-care exemption covers
them when sent to the number the patient gave) is recorded when the verified number is the one they
will go to and nothing about treatment messages is recorded yet. An opt-out (STOP: this patient's, or
any patient's with this number) or an earlier decision is never overridden, so a booking event played
again after a STOP cannot bring a consent back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .consent import ConsentState

Outcome = Literal["number_added", "already_on_file", "other_number_on_file"]


@dataclass(frozen=True)
class Evidence:
    set_phone: bool  # record the verified number as the patient's
    grant_treatment: bool  # record consent to treatment messages (source self_service_verified)
    outcome: Outcome


def weigh(verified: str, on_file: str | None, treatment: ConsentState, number_opted_out: bool) -> Evidence:
    """What a verified number changes, given the number on file (None: none), the patient's treatment
    consent, and whether any patient with the verified number opted out."""
    if on_file is not None and on_file != verified:
        return Evidence(False, False, "other_number_on_file")
    grant = treatment == "none" and not number_opted_out
    return Evidence(on_file is None, grant, "number_added" if on_file is None else "already_on_file")
