"""The new screens' live regions render from their use cases' results alone (no database): every
value present, and every value missing."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from frontdesk.console.adapters.trends import Forecast, Reputation
from frontdesk.console.domain.patient_loops import FreedSlot, report, window_start
from frontdesk.console.domain.schedule import Appointment, Hold, KeptZones, by_provider
from frontdesk.console.domain.session import new_session
from frontdesk.console.domain.trends import ForecastHour, WeekRate, by_hour_of_week
from frontdesk.console.domain.worklists import (
    Callback,
    FollowupTask,
    QuarantinedMessage,
    RecoveryTask,
    RescheduleTask,
    WaitlistOffer,
)
from frontdesk.console.entrypoints.screen_pages import templates
from frontdesk.console.schedule import ScheduleScreen
from frontdesk.console.trends import TrendsScreen
from frontdesk.console.worklists import WorklistsScreen

NOW = datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
TO = "\N{EN DASH}"  # between a start and an end
ZONE = "America/Chicago"


def render(name: str, **context: object) -> str:
    return templates.get_template(name).render(**context)


def test_trends_with_and_without_data() -> None:
    week = "2026-W11"
    figures = Reputation(week, "", 40, 12, 0.3, 4.2, 25.0)
    full = TrendsScreen(
        "c-1", "Clinic", ZONE, NOW, 18.0, 4,
        by_hour_of_week([], ZoneInfo(ZONE), 18, 4, [ForecastHour(0, 9, 2.0, 1, 0.9)]),
        Forecast("f-1", NOW, 4, 0.9, 30.0, [ForecastHour(0, 9, 2.0, 1, 0.9)]),
        ["2026-W10", week], {week: figures}, {"dr-a": {week: Reputation(week, "dr-a", 10, 0, 0.0, None, None)}},
        {week: WeekRate(week, 1, 4, 0.25)}, 3, NOW,
    )  # fmt: skip
    html = render("trends_live.html", screen=full)
    assert html.count("<svg") == 6 and "Erlang C staffing forecast" in html and "dr-a" in html
    empty = TrendsScreen(
        "c-1", "Clinic", ZONE, NOW, 18.0, 4, by_hour_of_week([], ZoneInfo(ZONE), 18, 4), None, ["2026-W11"],
        {}, {}, {}, 0, None,
    )  # fmt: skip
    assert "no staffing forecast yet" in render("trends_live.html", screen=empty)


def test_schedule_and_worklists_render() -> None:
    appointment = Appointment("a-1", "dr-a", "checkup", NOW - timedelta(minutes=5), NOW, no_show="left_without_visit")

    def hold(hold_id: str, kind: str, starts: timedelta, left: timedelta) -> Hold:
        return Hold(hold_id, f"dr-{hold_id}", kind, NOW + starts, NOW + starts + timedelta(minutes=30), NOW, NOW + left)

    holds = [
        hold("h-1", "new_patient", timedelta(hours=2), timedelta(seconds=40)),
        hold("h-2", "checkup", timedelta(days=1), timedelta(minutes=4)),
    ]
    screen = ScheduleScreen(
        "c-1", "Clinic", ZONE, KeptZones(ZONE), date(2026, 3, 9), NOW, by_provider([appointment]), holds, 1, NOW
    )
    html = render("schedule_live.html", screen=screen)
    assert "left without visit" in html and "Holds about to expire (2)" in html
    assert "(in 0:40)" in html and html.count("⚠ under a minute") == 1  # h-2 has four minutes left
    assert "Tue 10 Mar 10:00" in html and "new patient" in html  # the slot in the clinic's zone (CDT)
    assert "zone-note" not in html  # every provider is kept in the clinic's zone: no zone named
    empty = ScheduleScreen("c-1", "Clinic", ZONE, KeptZones(ZONE), date(2026, 3, 9), NOW, [], [], 0, None)
    assert "No slot held." in render("schedule_live.html", screen=empty)
    worklists = WorklistsScreen(
        "c-1", "Clinic", ZONE, KeptZones(ZONE), NOW, 60, 15,
        [Callback("cb-1", None, None, None, NOW, None)],
        [RecoveryTask("rt-1", "dr-a", 2, "nps", 3, NOW + timedelta(hours=1), NOW)],
        [FollowupTask("t-1", "clinical_concern", "urgent", NOW)],
        [WaitlistOffer("o-1", "dr-a", "checkup", NOW, NOW, NOW + timedelta(minutes=2))],
        [RescheduleTask("rs-1", "a-9", "dr-b", None, NOW + timedelta(days=1), NOW, NOW + timedelta(minutes=30))],
        [QuarantinedMessage("EHR-1", "MSG-7", "SIU^S13", "unknown appointment E-1: quarantined for review", NOW)],
        report([FreedSlot(NOW - timedelta(hours=2), NOW - timedelta(minutes=90)), FreedSlot(NOW, None)],
               {"patient": 3, "reminder_link": 1, "staff": 2}, window_start(NOW, ZoneInfo(ZONE))),
        1, NOW,
    )  # fmt: skip
    session = new_session("ana", frozenset({"c-1"}), NOW, 2**40)
    html = render("worklists_live.html", screen=worklists, session=session)
    assert "reason not known yet" in html and "score 3/10" in html and "expires soon" in html
    assert f'value="{session.csrf}"' in html
    assert 'data-hl7="MSG-7"' in html and "Mon 09 Mar 10:00" in html  # received, in the clinic's zone
    task = html.split('data-reschedule-task="rs-1"')[1].split("</li>")[0]
    assert "Tue 10 Mar 10:00" in task and "appointment a-9" in task and "◔ due soon" in task
    assert "Mon 09 Mar 10:30" in task  # the deadline, in the clinic's zone
    loops = html.split("data-patient-loops")[1].split("</section>")[0]
    assert "Since Tue 03 Mar 00:00 (America/Chicago)" in loops  # 7 local days, the first one CST
    assert 'data-figure="refilled">1 (50%)' in loops and 'data-figure="refill-median">30 min' in loops
    assert 'data-figure="by-patient">3' in loops and 'data-figure="by-staff">2' in loops


def test_an_appointment_kept_in_another_zone_is_told_there_and_names_it() -> None:
    """A Chicago clinic's Kathmandu provider: 09:00 in Kathmandu is not shown as 22:15 the day before."""
    zones = KeptZones(ZONE, {"dr-k": "Asia/Kathmandu"})
    start = datetime(2026, 3, 10, 3, 15, tzinfo=UTC)  # 09:00 Kathmandu, 22:15 CDT on the 9th
    end = start + timedelta(minutes=30)
    appointments = [Appointment("a-k", "dr-k", "checkup", start, end), Appointment("a-c", "dr-c", "checkup", NOW, NOW)]
    screen = ScheduleScreen(
        "c-1", "Clinic", ZONE, zones, date(2026, 3, 9), NOW, by_provider(appointments),
        [Hold("h-k", "dr-k", "checkup", start, end, NOW, NOW + timedelta(minutes=5))], 1, NOW,
    )  # fmt: skip
    html = render("schedule_live.html", screen=screen)
    row = html.split('data-appointment="a-k"')[1].split("</tr>")[0]
    assert f"09:00{TO}09:30" in row and "Asia/Kathmandu +0545" in row and "22:15" not in row
    hold = html.split('data-hold="h-k"')[1].split("</tr>")[0]
    assert f"Tue 10 Mar 09:00{TO}09:30" in hold and "Asia/Kathmandu +0545" in hold
    assert "Times in <strong>Asia/Kathmandu</strong>, where it is Monday 09 March" in html  # 20:45 there
    clinic_row = html.split('data-appointment="a-c"')[1].split("</tr>")[0]
    assert f"10:00{TO}10:00" in clinic_row and "zone-note" not in clinic_row  # the clinic's zone: not named
    worklists = WorklistsScreen(
        "c-1", "Clinic", ZONE, zones, NOW, 60, 15, [], [], [],
        [WaitlistOffer("o-k", "dr-k", "checkup", start, end, NOW + timedelta(minutes=2))],
        [RescheduleTask("rs-k", "a-k", "dr-k", None, start, NOW, NOW + timedelta(minutes=30))],
        [], report([], {}, window_start(NOW, ZoneInfo(ZONE))), 1, NOW,
    )  # fmt: skip
    html = render("worklists_live.html", screen=worklists, session=new_session("ana", frozenset({"c-1"}), NOW, 2**40))
    offer = html.split('data-offer="o-k"')[1].split("</li>")[0]
    assert f"Tue 10 Mar 09:00{TO}09:30" in offer and "Asia/Kathmandu +0545" in offer
    task = html.split('data-reschedule-task="rs-k"')[1].split("</li>")[0]
    assert "Tue 10 Mar 09:00" in task and "Asia/Kathmandu +0545" in task
    assert "Mon 09 Mar 10:30" in task  # the staff deadline stays in the clinic's zone
