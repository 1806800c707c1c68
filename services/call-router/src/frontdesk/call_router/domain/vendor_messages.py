"""Vendor message rules (pure): on-call paging escalation and the routine morning digest.

Wired to events in messages.py (answering.message_taken -> oncall.page_requested / the digest).

- Urgent: page the roster's first provider, re-send every `resend_every_seconds`, and after
  `escalate_after_seconds` move to the next step; the last step keeps being re-sent until someone
  acknowledges (domain.md section 1: resend every 2 min, backup provider at 15 min).
- Routine: delivered as a digest when the clinic next opens (its own zone, hours and closures).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from frontdesk.common.contracts import ClinicConfig
from frontdesk.common.contracts.phone import OnCallStep

from .routing import is_open


@dataclass(frozen=True)
class Page:
    at: datetime
    provider_id: str
    step: int
    resend: int  # 0 = first page of this step


def page_schedule(roster: list[OnCallStep], started_at: datetime, until: datetime) -> list[Page]:
    """Every page to send from `started_at` up to (excluding) `until` if nobody acknowledges."""
    if not roster:
        return []
    pages: list[Page] = []
    step_start = started_at.astimezone(UTC)
    for index, step in enumerate(roster):
        last = index == len(roster) - 1
        step_end = None if last else step_start + timedelta(seconds=step.escalate_after_seconds)
        n = 0
        while True:
            at = step_start + timedelta(seconds=n * step.resend_every_seconds)
            if at >= until or (step_end is not None and at >= step_end):
                break
            pages.append(Page(at, step.provider_id, index, n))
            n += 1
        if step_end is None or step_end >= until:
            break
        step_start = step_end
    return pages


def next_page(roster: list[OnCallStep], started_at: datetime, after: datetime) -> Page | None:
    """The first page strictly after `after` (None without a roster): what a durable timer waits for."""
    if not roster:
        return None
    horizon = after + timedelta(seconds=max(s.resend_every_seconds + s.escalate_after_seconds for s in roster))
    return next((p for p in page_schedule(roster, started_at, horizon) if p.at > after), None)


def sent_page(
    roster: list[OnCallStep], started_at: datetime, at: datetime, page_id: Callable[[Page], str], last: str
) -> Page | None:
    """The page of the schedule, due by `at`, whose id is `last` (the latest one requested); None if
    the roster changed since and no longer has it."""
    due = page_schedule(roster, started_at, at + timedelta(microseconds=1))
    return next((p for p in reversed(due) if page_id(p) == last), None)


def digest_due_at(clinic: ClinicConfig, taken_at: datetime, search_days: int = 14) -> datetime | None:
    """When a routine message taken at `taken_at` is delivered: at once if the clinic is open, else
    the next opening instant (minute resolution, in UTC); None if it does not open within the search."""
    at = taken_at.astimezone(UTC)
    if is_open(clinic, at):
        return at
    if not clinic.hours:
        return None  # never opens (e.g. the network fallback serving an unknown clinic)
    minute = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    end = at + timedelta(days=search_days)
    while minute < end:
        if is_open(clinic, minute):
            return minute
        minute += timedelta(minutes=1)
    return None
