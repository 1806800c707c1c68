"""The morning rush's plan: a clinic network's 08:00, drawn from the simulator's profile (pure, seeded).

Every clinic is the simulator's clinic (`frontdesk.tools.simulate.clinic_config`: open 07:00-19:00,
3 receptionists in one pool, 2 providers, two answering-service vendors), placed in a time zone where
the local clock reads 08:MM at the rush's start T0 (some zone always does). That moment is the
clinic's "08:00": its check-in time, the earliest minute followup may text its patients
(`quiet_hours_start`) and the opening of its review window (`send_window_opens`) are all set to it,
so that whatever fell due overnight goes out at T0, as in a real network when quiet hours end.

What T0 brings, per clinic (the simulator's SimConfig defaults unless a flag changes them):
- calls: the clinic's calls of the 08:00 hour, `calls_per_day` x HOURLY_PROFILE[8] / sum(HOURLY_PROFILE)
  (10.6% of the day), Poisson, the hour played `speed` times faster (the simulator plays its day
  1440 times faster; here 60 by default: the hour in one minute, the peak). Receptionists answer
  4 offers in 5 after 1-3.5 s and talk for the simulator's 2-7 minutes, compressed the same way;
  an unanswered offer rings out and the router moves on (a vendor answers what it is handed after
  2-6 s; a receptionist the router pauses after a missed offer is back 3 s later). Appointment and
  new-patient calls book a visit 1-3 days ahead in 6 of 10 cases. No caller hangs up.
- yesterday's visits (`visits_per_day`): their check-ins and their review requests fall due at T0.
- the morning's reminders: one appointment per provider at 10:00 (T0 + 2 h, spread over the peak):
  its PT2H reminder fires in the peak (the scheduler's timer, then followup's send).
- the 08:00 hour's visits (a tenth of `visits_per_day`): booked before T0, checked in and completed
  by the front desk over the scheduler's API during the peak; each asks for a review at once.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from zoneinfo import ZoneInfo, available_timezones

from frontdesk.common.contracts import ClinicConfig
from frontdesk.tools.simulate import HOURLY_PROFILE, INTENTS, SimConfig, clinic_config

EIGHT_O_CLOCK = 8
HOUR_SHARE = HOURLY_PROFILE[EIGHT_O_CLOCK] / sum(HOURLY_PROFILE)  # of a clinic's calls, in its 08:00 hour
ANSWER_PROBABILITY = SimConfig.answer_probability
BOOKING_SHARE = SimConfig.booking_share
FEEDBACK_CONSENT = 0.9  # the simulator's share of visits whose patient agreed to feedback messages


@dataclass(frozen=True)
class RushConfig:
    clinics: int = 500
    speed: float = 60.0  # simulated seconds per real second: the 08:00 hour in `3600 / speed` seconds
    calls_per_day: int = SimConfig.calls_per_day
    visits_per_day: int = SimConfig.visits_per_day
    receptionists: int = SimConfig.receptionists
    providers: int = SimConfig.providers
    seed: int = SimConfig.seed

    @property
    def peak_seconds(self) -> float:
        return 3600 / self.speed


@dataclass(frozen=True)
class Patient:
    patient_id: str
    clinic_id: str
    phone: str
    zone: str
    feedback: bool  # consent to feedback messages (review requests)


@dataclass(frozen=True)
class RushCall:
    at: float  # real seconds after T0
    clinic_id: str
    call_id: str
    intent: str
    picks: tuple[bool, ...]  # whether the receptionist offered the call picks up, offer by offer
    answer_delay: float
    handle: float  # real seconds of talk, compressed like the hour
    books: bool
    patient_id: str
    provider_id: str
    starts_at: datetime  # the visit a booking call asks for


@dataclass(frozen=True)
class PastVisit:
    """Yesterday's visit: its check-in and review request are due at T0."""

    visit_id: str
    patient: Patient
    provider_id: str
    completed_at: datetime


@dataclass(frozen=True)
class Booking:
    """An appointment booked before T0: a 10:00 one (its reminder fires in the peak) or an 08:00-hour
    visit the front desk completes in the peak (`complete_at`, real seconds after T0)."""

    request_id: str
    visit_id: str
    patient: Patient
    provider_id: str
    starts_at: datetime
    complete_at: float | None


@dataclass(frozen=True)
class RushPlan:
    t0: datetime
    config: RushConfig
    clinics: list[ClinicConfig]
    calls: list[RushCall]
    yesterday: list[PastVisit]
    bookings: list[Booking]

    @property
    def patients(self) -> list[Patient]:
        """Everyone whose contact details the EHR registers with followup before T0."""
        return [v.patient for v in self.yesterday] + [b.patient for b in self.bookings]

    @property
    def reminders(self) -> int:
        return sum(1 for b in self.bookings if b.complete_at is None)

    @property
    def visits_in_peak(self) -> int:
        return sum(1 for b in self.bookings if b.complete_at is not None)


def zones_at_eight(t0: datetime) -> list[str]:
    """The time zones whose local clock reads 08:MM at `t0` (region names first, then Etc/GMT±N)."""
    named: list[str] = []
    etc: list[str] = []
    for name in sorted(available_timezones()):
        if "/" not in name or name.startswith(("posix/", "right/", "SystemV/")):
            continue
        if t0.astimezone(ZoneInfo(name)).hour == EIGHT_O_CLOCK:
            (etc if name.startswith("Etc/") else named).append(name)
    if not named + etc:
        raise RuntimeError(f"no time zone reads 08:00 at {t0:%H:%M} UTC")
    return named or etc


def rush_clinic(clinic_id: str, index: int, zone: str, t0: datetime, config: RushConfig) -> ClinicConfig:
    """The simulator's clinic, with its 08:00 moved to T0 (check-ins, quiet hours' end, review window)."""
    document = clinic_config(clinic_id, index, zone, config.receptionists, config.providers).model_dump(mode="json")
    eight = t0.astimezone(ZoneInfo(zone)).time().replace(second=0, microsecond=0).isoformat("minutes")
    document["messaging"] |= {"check_in_time": eight, "quiet_hours_start": eight}
    document["reviews"] |= {"send_window_opens": eight}
    return ClinicConfig.model_validate(document)


def phone_number(rng: random.Random) -> str:
    # followup's local sink fails numbers ending in 000 (permanently) and 999 (twice): avoid both.
    while True:
        digits = f"{rng.randrange(10**7):07d}"
        if not digits.endswith(("000", "999")):
            return f"+1555{digits}"


def _calls(rng: random.Random, clinic: ClinicConfig, config: RushConfig, t0: datetime) -> list[RushCall]:
    rate = config.calls_per_day * HOUR_SHARE / 3600 * config.speed  # arrivals per real second
    zone = ZoneInfo(clinic.timezone)
    calls: list[RushCall] = []
    at = rng.expovariate(rate) if rate > 0 else math.inf
    while at < config.peak_seconds:
        n = len(calls)
        intent = rng.choices([i for i, _ in INTENTS], [w for _, w in INTENTS])[0]
        day = (t0.astimezone(zone) + timedelta(days=rng.randint(1, 3))).date()
        minute = 9 * 60 + 30 * rng.randrange(16)  # the simulator's: a half hour between 09:00 and 16:30
        calls.append(
            RushCall(
                at=at,
                clinic_id=clinic.clinic_id,
                call_id=f"call-{clinic.clinic_id}-{n}",
                intent=intent,
                picks=tuple(rng.random() < ANSWER_PROBABILITY for _ in range(4)),
                answer_delay=rng.uniform(1.0, 3.5),
                handle=max(0.3, rng.uniform(120, 420) / config.speed),
                books=intent in ("appointment", "new_patient") and rng.random() < BOOKING_SHARE,
                patient_id=f"pat-{clinic.clinic_id}-c{n}",
                provider_id=f"{clinic.clinic_id}-dr-{rng.randrange(config.providers)}",
                starts_at=datetime.combine(day, dtime(minute // 60, minute % 60), zone).astimezone(UTC),
            )
        )
        at += rng.expovariate(rate)
    return calls


def _yesterday(rng: random.Random, clinic: ClinicConfig, config: RushConfig, t0: datetime) -> list[PastVisit]:
    zone = ZoneInfo(clinic.timezone)
    day = (t0.astimezone(zone) - timedelta(days=1)).date()
    visits = []
    for n in range(config.visits_per_day):
        minute = rng.randrange(8 * 60, 18 * 60)
        cid = clinic.clinic_id
        patient = Patient(f"pat-{cid}-y{n}", cid, phone_number(rng), clinic.timezone, rng.random() < FEEDBACK_CONSENT)
        completed = datetime.combine(day, dtime(minute // 60, minute % 60), zone).astimezone(UTC)
        visits.append(PastVisit(f"visit-{cid}-y{n}", patient, f"{cid}-dr-{rng.randrange(config.providers)}", completed))
    return visits


def _bookings(
    rng: random.Random, clinic: ClinicConfig, config: RushConfig, t0: datetime, hour_visits: int
) -> list[Booking]:
    """One 10:00 appointment per provider (its reminder fires in the peak) and `hour_visits` visits at
    08:10, 08:40... (each provider's own half hours, so that none collide)."""
    cid = clinic.clinic_id
    bookings = []
    for k in range(config.providers + hour_visits):
        reminder = k < config.providers
        provider = k % config.providers if reminder else (k - config.providers) % config.providers
        if reminder:
            starts = t0 + timedelta(hours=2, seconds=rng.uniform(0, config.peak_seconds))
        else:
            starts = t0 + timedelta(minutes=10 + 30 * ((k - config.providers) // config.providers))
        patient = Patient(f"pat-{cid}-b{k}", cid, phone_number(rng), clinic.timezone, rng.random() < FEEDBACK_CONSENT)
        bookings.append(
            Booking(
                request_id=f"req-{cid}-b{k}",
                visit_id=f"visit-{cid}-b{k}",
                patient=patient,
                provider_id=f"{cid}-dr-{provider}",
                starts_at=starts.replace(microsecond=0),
                complete_at=None if reminder else rng.uniform(0, config.peak_seconds),
            )
        )
    return bookings


def make_plan(config: RushConfig, t0: datetime, run_id: str) -> RushPlan:
    """The rush for a start at `t0` (a UTC minute): every clinic's calls, yesterday and today's bookings."""
    rng = random.Random(config.seed)
    zones = zones_at_eight(t0)
    clinics = [rush_clinic(f"rush-{run_id}-{i}", i, zones[i % len(zones)], t0, config) for i in range(config.clinics)]
    # The network's 08:00-hour visits, a tenth of a day's, dealt to the clinics in turn.
    hour_visits_total = round(config.clinics * config.visits_per_day / 10)
    calls, yesterday, bookings = [], [], []
    for i, clinic in enumerate(clinics):
        calls += _calls(rng, clinic, config, t0)
        yesterday += _yesterday(rng, clinic, config, t0)
        hour_visits = hour_visits_total // config.clinics + (i < hour_visits_total % config.clinics)
        bookings += _bookings(rng, clinic, config, t0, hour_visits)
    return RushPlan(t0, config, clinics, sorted(calls, key=lambda c: c.at), yesterday, bookings)
