"""The patient's pages (a waitlist offer, a reschedule request): small, mobile-first HTML, no scripts,
no third-party assets. Pure functions (values in, HTML out); every value is escaped.

They show the practice's name and the appointment's date and time, nothing else about the patient
or the visit: whoever holds the link sees only that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

_STYLE = """
body{font-family:system-ui,-apple-system,sans-serif;margin:0;padding:1rem;background:#f6f7f9;color:#1d2330}
main{max-width:28rem;margin:0 auto;background:#fff;border-radius:12px;padding:1.25rem;box-shadow:0 1px 4px #0002}
h1{font-size:1.3rem;margin:.2rem 0 1rem} p.when{font-size:1.2rem;font-weight:600;margin:.5rem 0 1rem}
button{width:100%;padding:.8rem;font-size:1.05rem;border:0;border-radius:8px;background:#1f5fcf;color:#fff;
margin-top:.6rem;cursor:pointer} button.slot{background:#fff;color:#1d2330;border:1px solid #8a909c;text-align:left}
.error{color:#b42318;font-weight:600} .ok{color:#166534;font-weight:600} small{color:#4b5260}
form{margin:0}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        '<meta name=robots content="noindex,nofollow">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def when(at: datetime, zone: ZoneInfo) -> str:
    """`Monday, March 9 at 9:30 AM` in the clinic's zone."""
    local = at.astimezone(zone)
    return f"{local:%A, %B} {local.day} at {local.hour % 12 or 12}:{local:%M %p}"


@dataclass(frozen=True)
class Choice:
    """A slot the patient may pick (its start, as the form sends it back, and how it reads)."""

    value: str
    label: str


def offer_page(practice: str, slot: str, action: str) -> str:
    body = (
        f"<h1>{escape(practice)}</h1><p>An appointment time opened up for you:</p>"
        f"<p class=when>{escape(slot)}</p>"
        f'<form method=post action="{escape(action, quote=True)}"><button type=submit>Book this time</button></form>'
        "<p><small>The first patient to book gets this time. If you cannot come, simply ignore this page:"
        " you stay on the waitlist.</small></p>"
    )
    return _page(f"Appointment offer - {practice}", body)


def booked_page(practice: str, slot: str, already: bool = False) -> str:
    head = "You are already booked" if already else "You are booked"
    body = (
        f"<h1>{escape(practice)}</h1><p class=ok role=status>{escape(head)}</p>"
        f"<p class=when>{escape(slot)}</p><p>You will get a reminder before the visit.</p>"
    )
    return _page(f"Booked - {practice}", body)


def _time_buttons(choices: Sequence[Choice], action: str) -> str:
    buttons = "".join(
        f'<button class=slot type=submit name=starts_at value="{escape(c.value, quote=True)}">'
        f"{escape(c.label)}</button>"
        for c in choices
    )
    return f'<form method=post action="{escape(action, quote=True)}">{buttons}</form>'


def taken_page(practice: str, others: Sequence[Choice] = (), action: str = "", problem: str = "") -> str:
    """The slot went to someone else: the other open times in the patient's window, if any."""
    alert = f"<p class=error role=alert>{escape(problem)}</p>" if problem else ""
    listed = ""
    if others and action:
        listed = f"<p>These times are open, one tap books one:</p>{_time_buttons(others, action)}"
    body = (
        f"<h1>{escape(practice)}</h1><p class=error role=alert>Sorry, this slot has been taken.</p>{alert}"
        f"<p>Another patient booked it first.</p>{listed}"
        "<p>You stay on the waitlist and we will message you when another time opens.</p>"
    )
    return _page(f"Slot taken - {practice}", body)


def choose_page(
    practice: str, current: str, choices: Sequence[Choice], action: str, problem: str = "", staff_follow_up: bool = True
) -> str:
    """The reschedule page: the next open times, one button each (a plain form, no scripts).
    `staff_follow_up`: the patient asked to move (a "3"), so the practice calls if they pick nothing;
    from a reminder's link, nothing changes unless they pick."""
    alert = f"<p class=error role=alert>{escape(problem)}</p>" if problem else ""
    if choices:
        pick = f"<p>Choose a new time:</p>{_time_buttons(choices, action)}"
    elif staff_follow_up:
        pick = "<p>There is no open time in the next weeks. Please call the practice; we will also call you.</p>"
    else:
        pick = "<p>There is no open time in the next weeks. Please call the practice to find one.</p>"
    footnote = (
        "If none of these times suits you, do nothing: the practice will contact you."
        if staff_follow_up
        else "If none of these times suits you, your appointment stays as it is; call the practice to find another."
    )
    body = (
        f"<h1>{escape(practice)}</h1>{alert}<p>Your appointment is on</p><p class=when>{escape(current)}</p>{pick}"
        f"<p><small>{footnote}</small></p>"
    )
    return _page(f"Reschedule - {practice}", body)


def moved_page(practice: str, slot: str) -> str:
    body = (
        f"<h1>{escape(practice)}</h1><p class=ok role=status>Your appointment has been moved</p>"
        f"<p class=when>{escape(slot)}</p><p>You will get a reminder before the visit.</p>"
    )
    return _page(f"Rescheduled - {practice}", body)


def problem_page(message: str) -> str:
    return _page("Appointment", f"<h1>Sorry</h1><p class=error role=alert>{escape(message)}</p>")
