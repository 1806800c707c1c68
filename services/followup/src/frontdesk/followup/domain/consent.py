"""The consent ledger: per patient and purpose, the latest entry decides.

Purposes: treatment (reminders, check-ins, recalls: the TCPA health-care exemption covers them when
sent to the number the patient gave), feedback, marketing (express consent only). Opt-out words
(STOP ...) turn every purpose off at once; START turns back on what a reply had turned off, never
more (a marketing consent that was never given is not created by START).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

Purpose = Literal["treatment", "feedback", "marketing"]
PURPOSES: tuple[Purpose, ...] = ("treatment", "feedback", "marketing")
# self_service_verified: the patient typed, on a clinic's booking page, the code texted to the number.
# caller_request: a caller asked on the phone for the one message (a booking link); never recorded.
ConsentSource = Literal["registration", "staff", "reply", "import", "self_service_verified", "caller_request"]
ConsentState = Literal["granted", "opted_out", "none"]


@dataclass(frozen=True)
class ConsentEntry:
    purpose: Purpose
    opted_in: bool
    at: datetime
    source: ConsentSource


def latest(ledger: Iterable[ConsentEntry], purpose: Purpose) -> ConsentEntry | None:
    """The entry that decides: the latest by time; among equal times, the later in the ledger."""
    found: ConsentEntry | None = None
    for entry in ledger:
        if entry.purpose == purpose and (found is None or entry.at >= found.at):
            found = entry
    return found


def state(ledger: Iterable[ConsentEntry], purpose: Purpose) -> ConsentState:
    entry = latest(ledger, purpose)
    if entry is None:
        return "none"
    return "granted" if entry.opted_in else "opted_out"


def opt_out_all(ledger: Sequence[ConsentEntry], at: datetime, source: ConsentSource = "reply") -> list[ConsentEntry]:
    """Entries an opt-out word adds: every purpose not already opted out."""
    return [ConsentEntry(p, False, at, source) for p in PURPOSES if state(ledger, p) != "opted_out"]


def opt_back_in(ledger: Sequence[ConsentEntry], at: datetime) -> list[ConsentEntry]:
    """Entries START adds: the purposes whose latest entry is an opt-out by reply, and only those
    that had been granted before that opt-out (START never creates a consent that was not given)."""
    added: list[ConsentEntry] = []
    for purpose in PURPOSES:
        last = latest(ledger, purpose)
        if last is None or last.opted_in or last.source != "reply":
            continue
        before = [e for e in ledger if e.purpose == purpose and e.at <= last.at and e is not last]
        prior = latest(before, purpose)
        if prior is not None and prior.opted_in:
            added.append(ConsentEntry(purpose, True, at, "reply"))
    return added
