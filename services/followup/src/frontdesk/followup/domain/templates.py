"""Message templates, rendered per clinic.

HIPAA minimum necessary: a message names the practice, and a date, time or link; never a diagnosis,
visit type or visit reason. The TCPA health-care exemption also wants <= 160 characters and an
opt-out instruction. A template may only use the variables listed in SAFE_VARIABLES, each with a
maximum length, so the linter (tests/unit/test_templates.py) can prove every shipped template fits
one SMS whatever values it gets.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from frontdesk.common.contracts import ClinicConfig

SMS_LIMIT = 160
PRACTICE_MAX = 30
# Variable -> (maximum length, pattern the value must match). "practice" always comes from the
# clinic's configuration, never from a request.
SAFE_VARIABLES: Mapping[str, tuple[int, re.Pattern[str]]] = {
    "practice": (PRACTICE_MAX, re.compile(r"^[^\r\n]+$")),
    "date": (10, re.compile(r"^[A-Z][a-z]{2} [A-Z][a-z]{2} \d{1,2}$")),  # Wed Dec 30
    "time": (8, re.compile(r"^\d{1,2}:\d{2} [AP]M$")),  # 12:45 PM
    "link": (56, re.compile(r"^https://[A-Za-z0-9._~:/?#@!$&'()*+,;=%-]+$")),
    # Links another service passes (any length) are replaced by followup's short links:
    # short_link_base (<= 22 characters) + "/" + a 9-character code.
    "feedback_link": (32, re.compile(r"^https://[A-Za-z0-9._~:/-]+$")),
    "review_link": (32, re.compile(r"^https://[A-Za-z0-9._~:/-]+$")),
    "offer_link": (32, re.compile(r"^https://[A-Za-z0-9._~:/-]+$")),
    "reschedule_link": (32, re.compile(r"^https://[A-Za-z0-9._~:/-]+$")),
    "booking_link": (32, re.compile(r"^https://[A-Za-z0-9._~:/-]+$")),
    # The one-time code of the scheduler's booking page: never stored, only put in the SMS it goes in.
    "code": (6, re.compile(r"^\d{6}$")),
}
# Request variable -> template variable it becomes once shortened. `review_links` may list several
# public review URLs (space-separated, in the clinic's order): an SMS has room for the first one,
# which is the same for every patient (no review gating).
SHORTENED: Mapping[str, str] = {
    "feedback_link": "feedback_link",
    "review_links": "review_link",
    "offer_link": "offer_link",
    "reschedule_link": "reschedule_link",
    "booking_link": "booking_link",
}
SHORT_CODE_LENGTH = 9
_BASE62 = string.digits + string.ascii_letters
_URL = re.compile(r"^https://[^\s]{1,2040}$")
# Names that must never reach a template: clinical or personal content.
FORBIDDEN_VARIABLES = frozenset(
    {"diagnosis", "reason", "visit_reason", "visit_type", "appointment_type", "condition", "procedure",
     "notes", "medication", "result", "results", "name", "first_name", "last_name", "phone", "email", "dob"}
)  # fmt: skip
OPT_OUT_HINT = "Reply STOP to opt out"
# GSM 03.38 basic characters: keeps an SMS to one 160-character segment.
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)


class TemplateError(ValueError):
    """The template is unknown or cannot be rendered with these values."""


@dataclass(frozen=True)
class Template:
    template_id: str
    purpose: str
    sms: str
    email_subject: str = "A message from {practice}"
    variables: frozenset[str] = field(default_factory=frozenset)

    def placeholders(self) -> set[str]:
        names: set[str] = set()
        for text in (self.sms, self.email_subject):
            names |= {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
        return names


def _t(template_id: str, purpose: str, sms: str) -> Template:
    names = {f for _, f, _, _ in string.Formatter().parse(sms) if f}
    return Template(template_id, purpose, sms, variables=frozenset(names))


TEMPLATES: Mapping[str, Template] = {
    t.template_id: t
    for t in (
        _t(
            "appointment-reminder",
            "treatment",
            "{practice}: reminder of your appointment {date} at {time}. Reply 1 to confirm, 2 to cancel,"
            " 3 to reschedule. " + OPT_OUT_HINT,
        ),
        _t(
            "appointment-reminder-link",
            "treatment",
            "{practice}: visit {date} at {time}. Reply 1 to confirm, 2 to cancel. Move it: {reschedule_link} "
            + OPT_OUT_HINT,
        ),
        _t(
            "check-in-general",
            "treatment",
            "{practice}: hope you are well after your visit. Care info: {link} " + OPT_OUT_HINT,
        ),
        _t(
            "check-in-dental",
            "treatment",
            "{practice}: hope all is well after your visit. Aftercare: {link} " + OPT_OUT_HINT,
        ),
        _t(
            "check-in-therapy",
            "treatment",
            "{practice}: how are you after your session? Home plan: {link} " + OPT_OUT_HINT,
        ),
        _t(
            "recall",
            "treatment",
            "{practice}: time to book your next check-up: {link} " + OPT_OUT_HINT,
        ),
        _t(
            "no-show",
            "treatment",
            "{practice}: we missed you today. Reply 3 or call us to book a new time. " + OPT_OUT_HINT,
        ),
        _t(
            "waitlist-offer",
            "treatment",
            "{practice}: a time opened {date} at {time}. First to book gets it: {offer_link} " + OPT_OUT_HINT,
        ),
        _t(
            "waitlist-taken",
            "treatment",
            "{practice}: the {date} {time} opening was taken. You stay on our waitlist. " + OPT_OUT_HINT,
        ),
        _t(
            "reschedule-link",
            "treatment",
            "{practice}: pick a new time for your {date} {time} visit: {reschedule_link} " + OPT_OUT_HINT,
        ),
        _t(
            "booking-code",
            "treatment",
            "{practice}: your booking code is {code}. It expires at {time}. If you did not ask for it, ignore this. "
            + OPT_OUT_HINT,
        ),
        _t(
            "booking-link",
            "treatment",
            "{practice}: as you asked, book your visit here: {booking_link} (works once, until {date}). "
            + OPT_OUT_HINT,
        ),
        _t(
            "review-request",
            "feedback",
            "{practice}: thank you! Rate us {feedback_link} or review us {review_link} " + OPT_OUT_HINT,
        ),
    )
}


def short_code(url: str) -> str:
    """A stable code for a URL (the same URL always gets the same code)."""
    number = int.from_bytes(hashlib.sha256(url.encode()).digest()[:8], "big")
    chars = []
    for _ in range(SHORT_CODE_LENGTH):
        number, digit = divmod(number, 62)
        chars.append(_BASE62[digit])
    return "".join(chars)


def shorten_links(variables: Mapping[str, str], base: str) -> tuple[dict[str, str], dict[str, str]]:
    """Replace long links by short ones: (template variables, {code: long URL} to store).

    Raises TemplateError if a link is not an https URL."""
    out: dict[str, str] = {}
    links: dict[str, str] = {}
    for name, value in variables.items():
        target = SHORTENED.get(name)
        if target is None:
            out[name] = value
            continue
        first = value.split()[0] if value.split() else ""
        if not _URL.match(first):
            raise TemplateError(f"variable {name} must be an https URL")
        code = short_code(first)
        links[code] = first
        out[target] = f"{base}/{code}"
    return out, links


def practice_name(clinic_name: str, sender_name: str | None) -> str:
    """The name an SMS uses: the configured sender name, else the clinic name cut at a word."""
    if sender_name:
        return sender_name[:PRACTICE_MAX]
    name = " ".join(clinic_name.split())
    if len(name) <= PRACTICE_MAX:
        return name
    cut = name[:PRACTICE_MAX].rsplit(" ", 1)[0]
    return cut or name[:PRACTICE_MAX]


def format_date(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"{local:%a %b} {local.day}"


def format_time(at: datetime, zone: ZoneInfo) -> str:
    local = at.astimezone(zone)
    return f"{local.hour % 12 or 12}:{local:%M %p}"


def appointment_when(starts_at: datetime, clinic: ClinicConfig, provider_id: str) -> dict[str, str]:
    """The `date` and `time` of an appointment as its patient goes by them: in the zone the provider's
    day is kept in (their location's, which may not be the clinic's)."""
    zone = clinic.zone_of(provider_id)
    return {"date": format_date(starts_at, zone), "time": format_time(starts_at, zone)}


def is_gsm7(text: str) -> bool:
    return all(c in _GSM7 for c in text)


@dataclass(frozen=True)
class Rendered:
    sms: str
    email_subject: str


def render(template_id: str, practice: str, variables: Mapping[str, str], purpose: str | None = None) -> Rendered:
    """Render a shipped template; TemplateError says why not (unknown, wrong purpose, bad values)."""
    template = TEMPLATES.get(template_id)
    if template is None:
        raise TemplateError(f"unknown template {template_id!r}")
    if purpose is not None and template.purpose != purpose:
        raise TemplateError(f"template {template_id!r} is for {template.purpose}, not {purpose}")
    values = {k: v for k, v in variables.items()}
    unexpected = sorted(set(values) - (template.variables - {"practice"}))
    if unexpected:
        raise TemplateError(f"template {template_id!r} does not take {', '.join(unexpected)}")
    values["practice"] = practice
    for name in template.variables:
        if name not in values:
            raise TemplateError(f"template {template_id!r} needs {name}")
        limit, pattern = SAFE_VARIABLES[name]
        value = values[name]
        if len(value) > limit or not pattern.match(value):
            raise TemplateError(f"variable {name} is not a valid value (at most {limit} characters)")
    sms = template.sms.format_map(values)
    if len(sms) > SMS_LIMIT or not is_gsm7(sms):
        raise TemplateError(f"rendered SMS is {len(sms)} characters or not GSM-7")
    return Rendered(sms=sms, email_subject=template.email_subject.format_map(values))
