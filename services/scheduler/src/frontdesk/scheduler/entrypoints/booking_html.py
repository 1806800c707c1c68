"""The booking page's HTML: four plain forms (what to book, when, the code, done), no scripts, mobile
first, every value escaped. Each form carries the signed `entry` (which clinic's page, and the booking
link it came from); what the patient typed travels only in form bodies, never in a URL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from .patient_html import _page

_FORM_STYLE = """<style>
fieldset{border:0;padding:0;margin:0 0 1rem} legend{font-weight:600;margin-bottom:.4rem;padding:0}
label.opt{display:flex;gap:.6rem;align-items:center;padding:.7rem;border:1px solid #8a909c;border-radius:8px;
margin:.35rem 0;font-size:1.05rem} label.opt input{width:1.2rem;height:1.2rem;margin:0}
label.field{display:block;font-weight:600;margin:.8rem 0 .3rem}
input.text,select{width:100%;box-sizing:border-box;padding:.7rem;font-size:1.1rem;border:1px solid #5d6370;
border-radius:8px;background:#fff;color:#1d2330} h2{font-size:1.05rem;margin:1.1rem 0 .3rem}
button.secondary{background:#fff;color:#1f5fcf;border:1px solid #1f5fcf}
p.notice{background:#eef3fc;border-radius:8px;padding:.7rem} .nowrap{white-space:nowrap}
</style>"""


@dataclass(frozen=True)
class Option:
    value: str
    label: str


@dataclass(frozen=True)
class Day:
    """The open times of one day (clinic time), as radio options."""

    heading: str
    times: tuple[Option, ...]


def _hidden(fields: dict[str, str]) -> str:
    return "".join(
        f'<input type=hidden name="{escape(k, quote=True)}" value="{escape(v, quote=True)}">' for k, v in fields.items()
    )


def _alert(problem: str) -> str:
    return f"<p class=error role=alert>{escape(problem)}</p>" if problem else ""


def _radios(name: str, options: Sequence[Option], checked: str) -> str:
    return "".join(
        f'<label class=opt><input type=radio name={name} value="{escape(o.value, quote=True)}" required'
        f"{' checked' if o.value == checked else ''}>{escape(o.label)}</label>"
        for o in options
    )


def _page_with_form(title: str, body: str) -> str:
    return _page(title, body).replace("</head>", _FORM_STYLE + "</head>", 1)


def start_page(
    practice: str,
    entry: str,
    types: Sequence[Option],
    providers: Sequence[Option],
    chosen: dict[str, str] | None = None,
    problem: str = "",
) -> str:
    """What to book: new or existing patient, the appointment type, a provider or the first available."""
    chosen = chosen or {}
    provider_options = "".join(
        f'<option value="{escape(p.value, quote=True)}"{" selected" if p.value == chosen.get("provider") else ""}>'
        f"{escape(p.label)}</option>"
        for p in [Option("", "First available"), *providers]
    )
    body = (
        f"<h1>{escape(practice)}</h1><p>Book an appointment online.</p>{_alert(problem)}"
        '<form method=post action="/p/book/times">'
        + _hidden({"entry": entry})
        + "<fieldset><legend>Have you been to this practice before?</legend>"
        + _radios(
            "claim", [Option("new", "No, I am a new patient"), Option("existing", "Yes")], chosen.get("claim", "")
        )
        + "</fieldset><fieldset><legend>What is the appointment for?</legend>"
        + _radios("type", types, chosen.get("type", ""))
        + "</fieldset><label class=field for=provider>With</label>"
        f"<select id=provider name=provider>{provider_options}</select>"
        "<button type=submit>Show open times</button></form>"
    )
    return _page_with_form(f"Book an appointment - {practice}", body)


def times_page(
    practice: str,
    entry: str,
    chosen: dict[str, str],
    days: Sequence[Day],
    summary: str,
    problem: str = "",
) -> str:
    """When: the next open times by day, then the patient's name and number for the code."""
    keep = {k: chosen.get(k, "") for k in ("claim", "type", "provider")}
    back = (
        '<form method=post action="/p/book/start">'
        + _hidden({"entry": entry, **keep})
        + "<button type=submit class=secondary>Change what to book</button></form>"
    )
    if not days:
        body = (
            f"<h1>{escape(practice)}</h1>{_alert(problem)}<p>{escape(summary)}</p>"
            "<p>There is no open time in the next two weeks. Please call the practice.</p>" + back
        )
        return _page_with_form(f"No open times - {practice}", body)
    groups = "".join(
        f"<fieldset><legend>{escape(d.heading)}</legend>{_radios('slot', d.times, chosen.get('slot', ''))}</fieldset>"
        for d in days
    )
    body = (
        f"<h1>{escape(practice)}</h1>{_alert(problem)}<p>{escape(summary)}</p>"
        '<form method=post action="/p/book/hold">'
        + _hidden({"entry": entry, **keep})
        + f"<h2>Choose a time</h2>{groups}<h2>Your details</h2>"
        "<label class=field for=name>Full name</label><input class=text id=name name=name required maxlength=100"
        f' autocomplete=name value="{escape(chosen.get("name", ""), quote=True)}">'
        "<label class=field for=phone>Mobile phone number</label>"
        "<input class=text id=phone name=phone type=tel required maxlength=32 autocomplete=tel"
        f' value="{escape(chosen.get("phone", ""), quote=True)}" aria-describedby=phone-help>'
        "<p id=phone-help><small>We text a code to this number to confirm the booking.</small></p>"
        "<button type=submit>Hold this time and text me a code</button></form>" + back
    )
    return _page_with_form(f"Choose a time - {practice}", body)


def code_page(
    practice: str,
    entry: str,
    session: dict[str, str],
    slot: str,
    held_until: str,
    problem: str = "",
    notice: str = "",
) -> str:
    """The code: the time is held until `held_until`; what the person chose and typed rides along in
    the form. A second form asks what became of the text (a failed one is said at once)."""
    said = f"<p class=notice role=status>{escape(notice)}</p>" if notice else ""
    body = (
        f"<h1>{escape(practice)}</h1>{_alert(problem)}{said}"
        f"<p>We are holding this time for you until {escape(held_until)}:</p><p class=when>{escape(slot)}</p>"
        "<p>If the number you gave can receive text messages, a 6-digit code is on its way to it.</p>"
        '<form method=post action="/p/book/code">'
        + _hidden({"entry": entry, **session})
        + "<label class=field for=code>Code from the text message</label>"
        "<input class=text id=code name=code required inputmode=numeric autocomplete=one-time-code"
        ' pattern="[0-9 -]*" maxlength=12>'
        "<button type=submit>Confirm my booking</button></form>"
        '<form method=post action="/p/book/status">'
        + _hidden({"entry": entry, **session})
        + "<button type=submit class=secondary>No code yet? Check what happened</button></form>"
        "<p><small>If you do nothing, the time is released when the hold ends.</small></p>"
    )
    return _page_with_form(f"Enter your code - {practice}", body)


def not_texted_page(practice: str, entry: str, kept: dict[str, str], phone: str) -> str:
    """The code could not be texted: say so plainly, and offer the times again with the number to fix."""
    body = (
        f"<h1>{escape(practice)}</h1>"
        f"<p class=error role=alert>We could not text a code to <span class=nowrap>{escape(phone)}</span>.</p>"
        "<p>Please check the number: it must be a mobile number that can receive text messages. Then try"
        " again, or call the practice to book.</p>"
        "<p>The time we were holding for you has been released, so you can choose it again.</p>"
        '<form method=post action="/p/book/times">'
        + _hidden({"entry": entry, **kept})
        + "<button type=submit>Check the number and try again</button></form>"
    )
    return _page_with_form(f"We could not text a code - {practice}", body)


def booked_page(practice: str, slot: str, provider: str, already: bool = False) -> str:
    head = "You are already booked" if already else "You are booked"
    body = (
        f"<h1>{escape(practice)}</h1><p class=ok role=status>{escape(head)}</p>"
        f"<p class=when>{escape(slot)}</p><p>with {escape(provider)}</p>"
        "<p>Please call the practice if you need to change or cancel it.</p>"
    )
    return _page(f"Booked - {practice}", body)
