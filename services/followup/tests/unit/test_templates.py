"""Linter over every shipped template: one SMS (<= 160 GSM-7 characters) with the longest values any
variable may take, the practice named first, an opt-out instruction, and no clinical variables."""

from __future__ import annotations

import string
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from frontdesk.followup.domain.templates import (
    FORBIDDEN_VARIABLES,
    OPT_OUT_HINT,
    SAFE_VARIABLES,
    SHORT_CODE_LENGTH,
    SMS_LIMIT,
    TEMPLATES,
    Template,
    TemplateError,
    format_date,
    format_time,
    is_gsm7,
    practice_name,
    render,
    short_code,
    shorten_links,
)

LONGEST = {
    "practice": "W" * SAFE_VARIABLES["practice"][0],
    "date": "Wed Sep 30",
    "time": "12:45 PM",
    "code": "999999",
    # Every link variable at its longest.
    **{
        name: "https://" + "w" * (limit - len("https://"))
        for name, (limit, _) in SAFE_VARIABLES.items()
        if name.endswith("link")
    },
}


@pytest.mark.parametrize("template", list(TEMPLATES.values()), ids=list(TEMPLATES))
def test_template_lint(template: Template) -> None:
    names = {f for _, f, _, _ in string.Formatter().parse(template.sms) if f is not None}
    assert names <= set(SAFE_VARIABLES), f"unknown variables {names - set(SAFE_VARIABLES)}"
    assert not names & FORBIDDEN_VARIABLES
    assert template.sms.startswith("{practice}"), "every message names the practice first"
    assert OPT_OUT_HINT in template.sms
    assert template.purpose in {"treatment", "feedback", "marketing"}
    for name in names - {"practice"}:
        assert len(LONGEST[name]) <= SAFE_VARIABLES[name][0]
    rendered = render(template.template_id, LONGEST["practice"], {n: LONGEST[n] for n in names - {"practice"}})
    assert len(rendered.sms) <= SMS_LIMIT, f"{len(rendered.sms)} characters"
    assert is_gsm7(rendered.sms)
    # The text itself names no clinical subject.
    lowered = template.sms.lower()
    for word in ("diagnos", "reason", "condition", "procedure", "medication", "result", "test"):
        assert word not in lowered


def test_longest_values_are_the_limits() -> None:
    assert {k: len(v) for k, v in LONGEST.items()} == {k: lim for k, (lim, _) in SAFE_VARIABLES.items()}
    assert format_date(datetime(2026, 9, 30, 16, 45, tzinfo=UTC), ZoneInfo("America/New_York")) == "Wed Sep 30"
    assert format_time(datetime(2026, 9, 30, 16, 45, tzinfo=UTC), ZoneInfo("America/New_York")) == "12:45 PM"
    assert format_time(datetime(2026, 9, 30, 4, 5, tzinfo=UTC), ZoneInfo("UTC")) == "4:05 AM"


def test_render_refuses_what_it_must() -> None:
    with pytest.raises(TemplateError, match="unknown"):
        render("nope", "Clinic", {})
    with pytest.raises(TemplateError, match="does not take"):
        render("appointment-reminder", "Clinic", {"date": "Wed Sep 30", "time": "9:00 AM", "diagnosis": "x"})
    with pytest.raises(TemplateError, match="needs time"):
        render("appointment-reminder", "Clinic", {"date": "Wed Sep 30"})
    with pytest.raises(TemplateError, match="not a valid value"):
        render("recall", "Clinic", {"link": "http://insecure.example"})
    with pytest.raises(TemplateError, match="for treatment"):
        render("recall", "Clinic", {"link": "https://x.example"}, purpose="marketing")
    ok = render("appointment-reminder", "Maple", {"date": "Wed Sep 30", "time": "9:00 AM"}, purpose="treatment")
    assert ok.sms.startswith("Maple: reminder of your appointment Wed Sep 30 at 9:00 AM.")


def test_practice_name_fits() -> None:
    assert practice_name("Maple Street Family Practice", None) == "Maple Street Family Practice"
    assert practice_name("Maple Street Family Practice and Urgent Care", None) == "Maple Street Family Practice"
    assert practice_name("X" * 50, None) == "X" * 30
    assert practice_name("Long Name", "Maple") == "Maple"


def test_long_links_from_other_services_become_short_links() -> None:
    feedback = "https://reviews.example/v1/feedback/" + "t" * 300
    variables, links = shorten_links(
        {"feedback_link": feedback, "review_links": "https://g.page/r/abc/review https://www.yelp.com/biz/x"},
        "https://fdsk.example/l",
    )
    assert set(variables) == {"feedback_link", "review_link"}
    assert links == {
        variables["feedback_link"].rsplit("/", 1)[1]: feedback,
        variables["review_link"].rsplit("/", 1)[1]: "https://g.page/r/abc/review",  # the first public site
    }
    assert all(len(v) == len("https://fdsk.example/l/") + SHORT_CODE_LENGTH for v in variables.values())
    assert short_code(feedback) == short_code(feedback)  # stable across retries
    sms = render("review-request", "Maple Street Family Practice", variables, purpose="feedback").sms
    assert len(sms) <= SMS_LIMIT and variables["review_link"] in sms and variables["feedback_link"] in sms
    with pytest.raises(TemplateError, match="https URL"):
        shorten_links({"feedback_link": "javascript:alert(1)"}, "https://fdsk.example/l")
    with pytest.raises(TemplateError, match="https URL"):
        shorten_links({"review_links": ""}, "https://fdsk.example/l")
