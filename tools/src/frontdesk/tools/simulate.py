"""A clinic network's day played against a running stack: `frontdesk simulate`.

The simulator is the outside world of the four services: the phone system (calls arrive, ring,
are answered by a receptionist or an answering-service vendor, or abandoned; receptionists come on
shift, take breaks, and log off), the EHR front desk (check-in, completion, no-show over the
scheduler's HTTP API), and the patients (contact registration, SMS replies to reminders through
followup's signed webhook, feedback through the reviews page). It produces events with the real
contracts and reads outcomes from the topics (EventTap) and the services' HTTP APIs.

Time compression. The plan (arrivals, shifts, breaks, visits) is drawn on a simulated 24-hour local
day per clinic and played `speed` times faster; everything is seeded (`--seed`), so the same seed
gives the same plan. The services themselves run on the wall clock with durable timers, and a
phone ring cannot be compressed: ring timeouts (5-6 s), answer delays and handle times are real
seconds, and the router judges opening hours by the wall clock. The simulator therefore places its
clinics in time zones where some are open and some are after hours at the moment of the run.
Far-future timers are not waited for: a compressed run asserts that every visit has its check-in
and recall *planned* and its review request *scheduled, sent or skipped with a reason*, that
reminders due within the run (bookings made 2 hours and a few seconds ahead, reminder offset PT2H)
go out, and it reports reminders, follow-ups and review requests as counts, not that a 6-month
recall fired.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import math
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from datetime import time as dtime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from frontdesk.common.cloudevents import Envelope, encode
from frontdesk.common.contracts import (
    AgentStatusChanged,
    AppointmentRequested,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallReceived,
    CallRouted,
    ClinicConfig,
    Event,
    vendor_events_topic,
)
from frontdesk.common.contracts.phone import Vendor
from frontdesk.common.kafka import make_producer

from .apply import ensure_vendor_topics, publish
from .tap import EventTap
from .time_to_human import Lateness, TimeToHuman, build_timelines, format_time_to_human, summarize

SOURCE = "frontdesk/simulator"
WEBHOOK_DEV_SECRET = "frontdesk-local-dev-secret"  # noqa: S105 - followup's local-stack default (FOLLOWUP_WEBHOOK_SECRETS)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
OPEN_FROM, OPEN_UNTIL = 7, 19  # every simulated clinic is open 07:00-19:00 local, every day
# Zones with different offsets: at any moment some are inside 07:00-19:00 and some outside.
ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Africa/Nairobi",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)
# Relative call volume per local hour (a morning peak, a smaller afternoon one, quiet nights).
HOURLY_PROFILE = (
    *(0.15,) * 7,
    *(0.9, 1.8, 2.0, 1.6, 1.2, 1.0, 1.3, 1.6, 1.4, 1.0, 0.6),
    *(0.25,) * 6,
)
INTENTS = (
    ("appointment", 0.34),
    ("new_patient", 0.16),
    ("prescription", 0.14),
    ("billing", 0.1),
    ("results", 0.1),
    ("other", 0.14),
    ("urgent", 0.02),
)
SHIFTS = ((7, 15), (9, 17), (11, 19), (8, 12))  # local hours; receptionist k works SHIFTS[k % 4]
OUTPUT_TOPICS = (
    "call.routed",
    "call.offered",
    "call.overflowed",
    "agent.auto_paused",
    "callback.requested",
    "appointment.booked",
    "appointment.rejected",
    "appointment.cancelled",
    "appointment.no_show",
    "appointment.reminder_due",
    "appointment.reply_received",
    "visit.completed",
    "followup.scheduled",
    "followup.sent",
    "followup.failed",
    "message.requested",
    "message.sent",
    "message.skipped",
    "review.scheduled",
    "review.requested",
    "review.skipped",
    "review.received",
    "review.escalated",
)
VENDORS = ("sim-nightowl", "sim-pacific")  # every simulated clinic's primary and secondary vendor
SILENT_VENDOR = VENDORS[0]  # the one that answers nothing during SimConfig.silent_window
PHONE_TOPICS = ("call.received", "call.answered", "call.abandoned", *(vendor_events_topic(v) for v in VENDORS))
INPUT_DLQS = tuple(
    f"{t}.dlq"
    for t in (
        "call.received",
        "call.answered",
        "call.abandoned",
        "appointment.requested",
        "visit.completed",
        *(vendor_events_topic(v) for v in VENDORS),
    )
)


@dataclass(frozen=True)
class SimConfig:
    seed: int = 7
    clinics: int = 4
    receptionists: int = 3
    providers: int = 2
    calls_per_day: int = 40  # per clinic
    visits_per_day: int = 8  # per clinic
    speed: float = 1440.0  # simulated seconds per real second: a day in one minute
    booking_share: float = 0.6  # of appointment / new-patient calls
    near_term_share: float = 0.3  # bookings made ~2 h ahead, so that their PT2H reminder fires in the run
    answer_probability: float = 0.8  # a receptionist picks up an offer (else it rings out)
    # The simulated vendors' answer_target_seconds; None: the contract's default, as a new user has it.
    vendor_answer_target_seconds: float | None = None
    vendor_slow_share: float = 0.05  # of a vendor's answers, the share that come after its answer target
    # Fractions of the simulated day during which SILENT_VENDOR answers nothing (None: never silent).
    silent_window: tuple[float, float] | None = (0.4, 0.6)
    mean_patience_seconds: float = 90.0  # real seconds a caller waits before hanging up
    no_show_share: float = 0.1
    feedback_share: float = 0.5
    settle_timeout: float = 120.0  # real seconds to wait for the last outcomes
    run_id: str | None = None

    @property
    def day_seconds(self) -> float:
        return 86_400 / self.speed


def parse_window(text: str) -> tuple[float, float] | None:
    """A silent window as `FROM-TO` (fractions of the simulated day, e.g. 0.4-0.6), or `none`."""
    if text.strip().lower() == "none":
        return None
    try:
        start, end = (float(x) for x in text.split("-"))
    except ValueError:
        raise ValueError(f"{text!r}: expected FROM-TO, fractions of the simulated day, or none") from None
    if not 0 <= start < end <= 1:
        raise ValueError(f"{text!r}: expected 0 <= FROM < TO <= 1")
    return start, end


# --- the plan (pure, seeded) ------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedCall:
    at: float  # real seconds after the start
    clinic_id: str
    call_id: str
    caller_token: str
    intent: str
    patience: float
    answers: tuple[bool, ...]  # per offer made to the clinic's people, in order
    answer_delay: float
    vendor_delays: tuple[float, ...]  # per VENDORS: seconds from the hand-off to that vendor's answer
    handle: float
    books: bool
    near_term: bool
    provider: int
    day_offset: int
    slot_minute: int  # local minutes after midnight
    patient_id: str
    phone: str


@dataclass(frozen=True)
class PlannedPresence:
    at: float
    clinic_id: str
    receptionist_id: str
    status: str


@dataclass(frozen=True)
class PlannedVisit:
    at: float
    clinic_id: str
    provider: int
    slot: int  # the nth visit of this provider: its own half hour, so visits never collide
    visit_id: str
    patient_id: str
    phone: str
    no_show: bool
    feedback_consent: bool
    score: int | None


@dataclass(frozen=True)
class Plan:
    run_id: str
    clinics: list[ClinicConfig]
    calls: list[PlannedCall]
    presence: list[PlannedPresence]
    visits: list[PlannedVisit]


def _phone(rng: random.Random) -> str:
    # followup's local sink fails numbers ending in 000 (permanently) and 999 (twice): avoid both here.
    while True:
        digits = f"{rng.randrange(10**7):07d}"
        if not digits.endswith(("000", "999")):
            return f"+1555{digits}"


def choose_zones(n: int, now: datetime, rng: random.Random) -> list[str]:
    """About two thirds of the clinics open at `now`, the rest after hours (both if n >= 2)."""
    open_now = [z for z in ZONES if OPEN_FROM <= now.astimezone(ZoneInfo(z)).hour < OPEN_UNTIL]
    closed = [z for z in ZONES if z not in open_now]
    rng.shuffle(open_now)
    rng.shuffle(closed)
    n_open = max(1, math.ceil(n * 2 / 3)) if n > 1 else 1
    zones = [open_now[i % len(open_now)] for i in range(n_open)]
    zones += [closed[i % len(closed)] for i in range(n - n_open)]
    return zones


def clinic_config(
    clinic_id: str, index: int, zone: str, receptionists: int, providers: int, vendor_target: float | None = None
) -> ClinicConfig:
    target = {} if vendor_target is None else {"answer_target_seconds": vendor_target}
    recs = [f"{clinic_id}-rec-{k}" for k in range(receptionists)]
    return ClinicConfig.model_validate(
        {
            "clinic_id": clinic_id,
            "name": f"Simulated Clinic {index + 1}",
            "timezone": zone,
            "hours": {d: [f"{OPEN_FROM:02d}:00-{OPEN_UNTIL:02d}:00"] for d in DAYS},
            "phone": {
                "ring_seconds": 6,
                "rings": 3,
                "answering_service": VENDORS[0],
                "secondary_answering_service": VENDORS[1],
                "vendors": [{"vendor_id": v, **target} for v in VENDORS],
                "receptionists": [
                    {"receptionist_id": r, "languages": ["en", "es"], "skills": ["new_patient_booking"]} for r in recs
                ],
                "pools": [
                    {
                        "pool_id": f"{clinic_id}-desk",
                        "members": recs,
                        "strategy": "longest_idle",
                        "offer_timeout_seconds": 5,
                    }
                ],
            },
            "providers": [{"provider_id": f"{clinic_id}-dr-{k}"} for k in range(providers)],
            "scheduling": {
                "appointment_types": [{"type_id": "visit", "duration_minutes": 30, "min_notice_minutes": 0}],
                "reminder_offsets": ["PT2H"],
            },
            "messaging": {"sender_name": f"Sim Clinic {index + 1}"},
            "reviews": {
                "review_sites": [{"site": "google", "url": f"https://g.page/r/{clinic_id}/review"}],
                "delay_minutes": 0,
            },
        }
    )


def _arrivals(rng: random.Random, per_day: float, profile: tuple[float, ...]) -> list[float]:
    """Poisson arrivals over a simulated day (seconds after local midnight), rate by local hour."""
    total = sum(profile)
    times: list[float] = []
    for hour, weight in enumerate(profile):
        rate = per_day * weight / total / 3600  # arrivals per simulated second
        t = hour * 3600.0
        while rate > 0:
            t += rng.expovariate(rate)
            if t >= (hour + 1) * 3600:
                break
            times.append(t)
    return times


def _vendor_delay(rng: random.Random, config: SimConfig) -> float:
    """Seconds a vendor takes to answer a call handed to it: mostly well within its answer target,
    sometimes (vendor_slow_share) beyond it."""
    target = config.vendor_answer_target_seconds or Vendor(vendor_id="any").answer_target_seconds
    if rng.random() < config.vendor_slow_share:
        return rng.uniform(target, target * 1.6)
    return rng.uniform(min(1.0, target / 2), target * 0.9)


def make_plan(config: SimConfig, now: datetime) -> Plan:
    """Everything the day will bring, drawn from the seed (the zones also depend on `now`)."""
    rng = random.Random(config.seed)
    run = config.run_id or f"{config.seed}x{uuid.uuid4().hex[:6]}"
    zones = choose_zones(config.clinics, now, rng)
    clinics = [
        clinic_config(
            f"sim-{run}-{i}", i, zone, config.receptionists, config.providers, config.vendor_answer_target_seconds
        )
        for i, zone in enumerate(zones)
    ]
    scale = 1 / config.speed
    calls: list[PlannedCall] = []
    presence: list[PlannedPresence] = []
    visits: list[PlannedVisit] = []
    for clinic in clinics:
        cid = clinic.clinic_id
        for k, rec in enumerate(r.receptionist_id for r in clinic.phone.receptionists):
            start, end = SHIFTS[k % len(SHIFTS)]
            presence.append(PlannedPresence(0.0, cid, rec, "offline"))
            presence.append(PlannedPresence(start * 3600 * scale, cid, rec, "available"))
            if end - start > 5:  # a half-hour break in the middle of a long shift
                brk = (start + (end - start) / 2) * 3600
                presence.append(PlannedPresence(brk * scale, cid, rec, "paused"))
                presence.append(PlannedPresence((brk + 1800) * scale, cid, rec, "available"))
            presence.append(PlannedPresence(end * 3600 * scale, cid, rec, "offline"))
        for n, t in enumerate(_arrivals(rng, config.calls_per_day, HOURLY_PROFILE)):
            intent = rng.choices([i for i, _ in INTENTS], [w for _, w in INTENTS])[0]
            books = intent in ("appointment", "new_patient") and rng.random() < config.booking_share
            calls.append(
                PlannedCall(
                    at=t * scale,
                    clinic_id=cid,
                    call_id=f"call-{cid}-{n}",
                    caller_token=f"tok-{cid}-{rng.randrange(10**6)}",
                    intent=intent,
                    patience=max(2.0, rng.expovariate(1 / config.mean_patience_seconds)),
                    answers=tuple(rng.random() < config.answer_probability for _ in range(4)),
                    answer_delay=rng.uniform(1.0, 3.5),
                    vendor_delays=tuple(_vendor_delay(rng, config) for _ in VENDORS),
                    handle=max(0.3, rng.uniform(120, 420) * scale),  # talk time, compressed
                    books=books,
                    near_term=rng.random() < config.near_term_share,
                    provider=rng.randrange(config.providers),
                    day_offset=rng.randint(1, 3),
                    slot_minute=9 * 60 + 30 * rng.randrange(16),
                    patient_id=f"pat-{cid}-c{n}",
                    phone=_phone(rng),
                )
            )
        per_provider: Counter[int] = Counter()
        visit_times = sorted(rng.uniform(8 * 3600, 18 * 3600) for _ in range(config.visits_per_day))
        for n, t in enumerate(visit_times):
            provider = rng.randrange(config.providers)
            per_provider[provider] += 1
            feedback = rng.random() < 0.9
            visits.append(
                PlannedVisit(
                    at=t * scale,
                    clinic_id=cid,
                    provider=provider,
                    slot=per_provider[provider] - 1,
                    visit_id=f"visit-{cid}-{n}",
                    patient_id=f"pat-{cid}-v{n}",
                    phone=_phone(rng),
                    no_show=rng.random() < config.no_show_share,
                    feedback_consent=feedback,
                    score=rng.choice((1, 2, 3, 4, 5, 5, 5, 4)) if rng.random() < config.feedback_share else None,
                )
            )
    return Plan(run, clinics, sorted(calls, key=lambda c: c.at), sorted(presence, key=lambda p: p.at), visits)


# --- running it -------------------------------------------------------------------------------------


@dataclass
class CallState:
    plan: PlannedCall
    received_at: datetime | None = None
    outcome: str | None = None  # answered / abandoned
    outcome_at: datetime | None = None
    answered_by: str | None = None
    offers_seen: set[int] = field(default_factory=set)
    answering: bool = False  # someone is picking up: the caller waits for them
    vendors_answering: set[str] = field(default_factory=set)  # vendors racing to answer (first one wins)
    request_id: str | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class Result:
    """What happened, per clinic, and every broken promise found (`problems`)."""

    run_id: str
    clinics: list[ClinicConfig]
    events_in: int
    http_commands: int
    events_out: int
    redelivered: int
    duplicates: dict[str, int]
    dead_letters: int
    per_clinic: dict[str, dict[str, Any]]
    problems: list[str]
    wall_seconds: float
    time_to_human: dict[str, TimeToHuman] = field(default_factory=dict)  # per clinic
    # per call: (when call.received was written, seconds until call.routed), both by the broker's clock
    routing: list[tuple[float, float]] = field(default_factory=list)
    silent: str = ""  # when the silent vendor was silent, for the report

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def budget_breaches(self) -> list[Lateness]:
        """Calls over their budget for a reason the router controls (time_to_human.classify)."""
        return [x for t in self.time_to_human.values() for x in t.router_breaches]

    def format(self) -> str:
        lines = [
            f"Simulated day {self.run_id}: {len(self.clinics)} clinics, {self.wall_seconds:.0f} s of wall time",
            f"  events in {self.events_in} (+{self.http_commands} HTTP commands), events out {self.events_out},"
            f" redelivered {self.redelivered}, duplicate side effects {sum(self.duplicates.values())},"
            f" dead letters {self.dead_letters}",
            "",
            f"{'clinic':<16} {'zone':<20} {'calls':>5} {'SL3':>5} {'ovfl':>5} {'aftr':>5} {'aband':>5}"
            f" {'book':>4} {'rej':>4} {'rem':>4} {'rply':>4} {'visit':>5} {'noshw':>5} {'plans':>5}"
            f" {'rev':>4} {'skip':>4} {'resp':>4}",
        ]
        for clinic in self.clinics:
            c = self.per_clinic[clinic.clinic_id]
            lines.append(
                f"{clinic.clinic_id[-16:]:<16} {clinic.timezone:<20} {c['calls']:>5} {_pct(c['service_level']):>5}"
                f" {_pct(c['overflow_share']):>5} {_pct(c['after_hours_share']):>5} {_pct(c['abandonment']):>5}"
                f" {c['booked']:>4} {c['rejected']:>4} {c['reminders_sent']:>4} {c['replies']:>4}"
                f" {c['visits_completed']:>5} {c['no_shows']:>5} {c['followups_planned']:>5}"
                f" {c['review_requests']:>4} {c['review_skips']:>4} {c['review_responses']:>4}"
            )
        lines.append(
            "\nSL3 = answered within 3 rings / (calls - abandons under 5 s); ovfl = handed to a vendor;"
            " aftr = routed as after hours; rem = reminders sent; plans = follow-ups planned;"
            " rev/skip/resp = review requests sent / skipped with a reason / answered."
        )
        lines += ["", *format_time_to_human(self.clinics, self.time_to_human)]
        if self.silent:
            lines.append(self.silent)
        lines.append("All promises kept." if self.ok else "PROBLEMS:\n  " + "\n  ".join(self.problems))
        if breaches := self.budget_breaches:
            lines.append(f"OVER BUDGET FOR A REASON THE ROUTER CONTROLS: {len(breaches)} calls (listed above).")
        return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


ProgressHook = Callable[[float], Awaitable[None]]


class Simulator:
    def __init__(
        self,
        bootstrap: str,
        service_urls: dict[str, str],
        config: SimConfig,
        *,
        token: str,
        progress: bool = True,
        webhook_secret: str = WEBHOOK_DEV_SECRET,
        now: datetime | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.token = token  # a bearer token for the services' HTTP APIs (network-wide, as a front desk app)
        self.urls = service_urls
        self.config = config
        self.plan = make_plan(config, now or datetime.now(UTC))
        self.progress = progress
        self.secret = webhook_secret.encode()
        self.rng = random.Random(config.seed + 1)
        self.calls = {c.call_id: CallState(c) for c in self.plan.calls}
        self.clinic_ids = {c.clinic_id for c in self.plan.clinics}
        self.zone = {c.clinic_id: ZoneInfo(c.timezone) for c in self.plan.clinics}
        self.desired: dict[str, str] = {}
        self.on_call: set[str] = set()
        self.clinic_of_rec: dict[str, str] = {}
        self.events_in = 0
        self.http_commands = 0
        self.requests: dict[str, tuple[str, str]] = {}  # request_id -> (clinic, phone)
        self.visit_requests: dict[str, PlannedVisit] = {}
        self.visit_done: dict[str, str] = {}  # visit_id -> completed / no_show / rejected / failed
        self.links: dict[str, str] = {}  # message_request_id -> feedback token
        self.phones: dict[str, str] = {}  # patient_id -> phone
        self.replied: set[str] = set()
        self.feedback_sent: set[str] = set()
        self.scores: dict[str, int | None] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._seen = 0
        self.problems: list[str] = []
        self._booked_waiters: dict[str, asyncio.Future[Any]] = {}
        self._last_pct = -1
        self._started_ms = int(time.time() * 1000)  # reset when the day starts playing
        self.phone: EventTap | None = None  # the phone side's own records, read back for their timestamps

    # -- the silent vendor --
    def _silent_span(self) -> tuple[int, int] | None:
        """The silent window in epoch milliseconds."""
        if self.config.silent_window is None:
            return None
        day_ms = self.config.day_seconds * 1000
        start, end = self.config.silent_window
        return self._started_ms + int(start * day_ms), self._started_ms + int(end * day_ms)

    def silent_between(self, vendor: str, start_ms: int, end_ms: int) -> bool:
        """Whether `vendor` was silent at some moment between the two instants."""
        span = self._silent_span()
        return vendor == SILENT_VENDOR and span is not None and start_ms < span[1] and span[0] <= end_ms

    def _silent_now(self, vendor: str) -> bool:
        now = int(time.time() * 1000)
        return self.silent_between(vendor, now, now)

    # -- plumbing --
    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, event: Event, topic: str | None = None) -> None:
        record = encode(event, source=SOURCE, topic=topic)
        # Retry through a broker outage: the simulator is a producer that must not drop its own events.
        while True:
            try:
                await self.producer.send_and_wait(record.topic, record.value, key=record.key, headers=record.headers)
                break
            except Exception:  # noqa: BLE001 - keep the world going while the broker is away
                await asyncio.sleep(0.5)
        self.events_in += 1

    async def _http(self, method: str, url: str, *, attempts: int = 60, **kwargs: Any) -> httpx.Response | None:
        """A command over HTTP, retried (same idempotency key) while the service is away."""
        self.http_commands += 1
        for _ in range(attempts):
            try:
                response = await self.http.request(method, url, **kwargs)
                if response.status_code < 500:
                    return response
            except httpx.HTTPError:
                pass
            await asyncio.sleep(1.0)
        return None

    # -- the world --
    async def _presence(self, p: PlannedPresence) -> None:
        self.desired[p.receptionist_id] = p.status
        self.clinic_of_rec[p.receptionist_id] = p.clinic_id
        if p.receptionist_id in self.on_call:
            return  # the status follows when the call ends
        await self._status(p.clinic_id, p.receptionist_id, p.status)

    async def _status(self, clinic_id: str, rec: str, status: str) -> None:
        await self._send(
            AgentStatusChanged(clinic_id=clinic_id, receptionist_id=rec, status=status, changed_at=datetime.now(UTC))
        )

    async def _call(self, c: PlannedCall) -> None:
        state = self.calls[c.call_id]
        state.received_at = datetime.now(UTC)
        await self._send(
            CallReceived(
                call_id=c.call_id,
                clinic_id=c.clinic_id,
                received_at=state.received_at,
                caller_token=c.caller_token,
                intent=c.intent,
                language="en",
            )
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(state.done.wait(), c.patience)
        if state.outcome is None and not state.answering:
            state.outcome, state.outcome_at = "abandoned", datetime.now(UTC)
            await self._send(CallAbandoned(call_id=c.call_id, clinic_id=c.clinic_id, abandoned_at=state.outcome_at))

    async def _answer(self, state: CallState, kind: str, target: str, delay: float, handle: float) -> None:
        state.answering = True
        await asyncio.sleep(delay)
        if state.outcome is not None:
            return
        c = state.plan
        state.outcome, state.outcome_at, state.answered_by = "answered", datetime.now(UTC), kind
        state.done.set()
        # A vendor reports on its own topic; the phone system on the shared ones.
        topic = vendor_events_topic(target) if kind == "answering_service" else None
        await self._send(
            CallAnswered(
                call_id=c.call_id,
                clinic_id=c.clinic_id,
                answered_at=state.outcome_at,
                answered_by_kind=kind,
                answered_by_id=target,
            ),
            topic,
        )
        if kind == "receptionist":
            self.on_call.add(target)
            await self._status(c.clinic_id, target, "busy")
        if c.books:
            self._spawn(self._book_from_call(state))
        await asyncio.sleep(handle)
        await self._send(CallEnded(call_id=c.call_id, clinic_id=c.clinic_id, ended_at=datetime.now(UTC)), topic)
        if kind == "receptionist":
            self.on_call.discard(target)
            await self._status(c.clinic_id, target, self.desired.get(target, "available"))

    async def _book_from_call(self, state: CallState) -> None:
        c = state.plan
        zone = self.zone[c.clinic_id]
        now = datetime.now(UTC)
        if c.near_term:  # its PT2H reminder falls due within the run
            starts = (now + timedelta(hours=2, seconds=self.rng.uniform(15, 45))).replace(microsecond=0)
        else:
            day = (now.astimezone(zone) + timedelta(days=c.day_offset)).date()
            local = datetime.combine(day, dtime(c.slot_minute // 60, c.slot_minute % 60), zone)
            starts = local.astimezone(UTC)
        await self._register(c.patient_id, c.phone, c.clinic_id, feedback=True)
        state.request_id = f"req-{c.call_id}"
        self.requests[state.request_id] = (c.clinic_id, c.phone)
        await self._send(
            AppointmentRequested(
                request_id=state.request_id,
                patient_id=c.patient_id,
                clinic_id=c.clinic_id,
                provider_id=f"{c.clinic_id}-dr-{c.provider}",
                appointment_type="visit",
                starts_at=starts,
                ends_at=starts + timedelta(minutes=30),
            )
        )

    async def _register(self, patient_id: str, phone: str, clinic_id: str, feedback: bool) -> None:
        self.phones[patient_id] = phone
        await self._http(
            "PUT",
            f"{self.urls['followup']}/v1/patients/{patient_id}/contact",
            json={
                "phone": phone,
                "timezone": str(self.zone[clinic_id]),
                "consents": {"treatment": True, "feedback": feedback},
            },
        )

    async def _visit(self, v: PlannedVisit) -> None:
        """Book the visit's own slot (its provider's nth half hour from a few minutes from now, so
        visits never collide with each other), then check in and complete it, or mark a no-show, as
        the clinic's front desk does over the scheduler's API."""
        await self._register(v.patient_id, v.phone, v.clinic_id, feedback=v.feedback_consent)
        soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=5)
        starts = soon + timedelta(minutes=30 * v.slot)
        request_id = f"req-{v.visit_id}"
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._booked_waiters[request_id] = waiter
        self.visit_requests[request_id] = v
        self.scores[v.visit_id] = v.score
        await self._send(
            AppointmentRequested(
                request_id=request_id,
                patient_id=v.patient_id,
                clinic_id=v.clinic_id,
                provider_id=f"{v.clinic_id}-dr-{v.provider}",
                appointment_type="visit",
                starts_at=starts,
                ends_at=starts + timedelta(minutes=30),
            )
        )
        try:
            outcome = await asyncio.wait_for(waiter, timeout=max(self.config.settle_timeout, 60))
        except TimeoutError:
            self.visit_done[v.visit_id] = "failed"
            return
        if outcome.type != "appointment.booked":
            self.visit_done[v.visit_id] = "rejected"
            return
        appointment = outcome.data.appointment_id
        base = f"{self.urls['scheduler']}/v1/appointments/{appointment}"
        if v.no_show:
            r = await self._http(
                "POST", f"{base}/no-show", json={"kind": "no_show"}, headers={"Idempotency-Key": f"ns-{v.visit_id}"}
            )
            self.visit_done[v.visit_id] = "no_show" if r is not None and r.status_code == 200 else "failed"
            return
        await self._http("POST", f"{base}/check-in", json={}, headers={"Idempotency-Key": f"ci-{v.visit_id}"})
        r = await self._http(
            "POST", f"{base}/complete", json={"visit_id": v.visit_id}, headers={"Idempotency-Key": f"co-{v.visit_id}"}
        )
        self.visit_done[v.visit_id] = "completed" if r is not None and r.status_code == 200 else "failed"

    async def _reply(self, phone: str, text: str) -> None:
        await asyncio.sleep(self.rng.uniform(0.5, 2.0))
        body = json.dumps({"from": phone, "text": text}).encode()
        ts = str(int(time.time()))
        signature = hmac.new(self.secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        await self._http(
            "POST",
            f"{self.urls['followup']}/v1/webhooks/sms",
            content=body,
            headers={
                "X-Frontdesk-Timestamp": ts,
                "X-Frontdesk-Signature": signature,
                "content-type": "application/json",
            },
        )

    async def _feedback(self, token: str, score: int) -> None:
        await asyncio.sleep(self.rng.uniform(0.5, 2.0))
        await self._http("POST", f"{self.urls['reviews']}/v1/feedback/{token}", json={"score": score})

    async def _after_pause(self, clinic_id: str, rec: str) -> None:
        await asyncio.sleep(3.0)  # the receptionist notices the auto-pause and comes back
        if rec not in self.on_call and self.desired.get(rec) == "available":
            await self._status(clinic_id, rec, "available")

    def _react(self, env: Envelope[Event]) -> None:
        d = env.data
        clinic = getattr(d, "clinic_id", None)
        if clinic not in self.clinic_ids:
            return
        t = env.type
        if t == "call.offered":
            state = self.calls.get(d.call_id)  # type: ignore[attr-defined]
            if state is None or state.outcome is not None or state.answering:
                return
            state.offers_seen.add(d.attempt)  # type: ignore[attr-defined]
            picks = state.plan.answers[min(len(state.offers_seen), len(state.plan.answers)) - 1]
            kind, target = d.target_kind, d.target_id  # type: ignore[attr-defined]
            if kind == "receptionist" and target in self.on_call:
                picks = False  # already on another call: this offer rings out
            if picks and kind != "answering_service":
                self._spawn(self._answer(state, kind, target, state.plan.answer_delay, state.plan.handle))
        elif t == "call.overflowed":
            state = self.calls.get(d.call_id)  # type: ignore[attr-defined]
            vendor = d.vendor_id  # type: ignore[attr-defined]
            # Vendors offered the same call race (the first answer wins); a silent one never answers.
            already = state is not None and (state.outcome is not None or vendor in state.vendors_answering)
            if state is not None and not already and not self._silent_now(vendor):
                state.vendors_answering.add(vendor)
                # 3 s for a vendor the simulator does not plan for (every simulated clinic names only VENDORS)
                delay = dict(zip(VENDORS, state.plan.vendor_delays, strict=True)).get(vendor, 3.0)
                self._spawn(self._answer(state, "answering_service", vendor, delay, state.plan.handle))
        elif t == "agent.auto_paused":
            self._spawn(self._after_pause(clinic, d.receptionist_id))  # type: ignore[attr-defined]
        elif t in ("appointment.booked", "appointment.rejected"):
            waiter = self._booked_waiters.pop(d.request_id, None)  # type: ignore[attr-defined]
            if waiter is not None and not waiter.done():
                waiter.set_result(env)
        elif t == "followup.sent" and d.kind == "reminder":  # type: ignore[attr-defined]
            phone = self.phones.get(d.patient_id)  # type: ignore[attr-defined]
            if phone and d.followup_id not in self.replied and self.rng.random() < 0.7:  # type: ignore[attr-defined]
                self.replied.add(d.followup_id)  # type: ignore[attr-defined]
                self._spawn(self._reply(phone, "1" if self.rng.random() < 0.85 else "2"))
        elif t == "message.requested":
            link = d.variables.get("feedback_link", "")  # type: ignore[attr-defined]
            if link:
                self.links[d.message_request_id] = link.rstrip("/").rsplit("/", 1)[-1]  # type: ignore[attr-defined]
        elif t == "review.requested":
            visit, token = d.visit_id, self.links.get(d.message_request_id or "")  # type: ignore[attr-defined]
            score = self.scores.get(visit)
            if token and score is not None and visit not in self.feedback_sent:
                self.feedback_sent.add(visit)
                self._spawn(self._feedback(token, score))

    async def _pump(self, tap: EventTap) -> None:
        while True:
            await tap.poll(0.1)
            if self.phone is not None:
                await self.phone.poll(0.01)
            while self._seen < len(tap.events):
                self._react(tap.events[self._seen])
                self._seen += 1

    async def _wait_projection(self) -> None:
        wanted = self.clinic_ids
        deadline = time.monotonic() + 120
        for name, url in self.urls.items():
            last = "no answer"
            while True:
                try:
                    response = await self.http.get(url + "/v1/clinics")
                    last = f"{response.status_code} {response.text[:200]}"
                    # Anything but the list (a 503 while the service reconnects, say) is "not yet".
                    clinics = response.json() if response.status_code == 200 else []
                    if wanted <= {c["clinic_id"] for c in clinics if isinstance(c, dict)}:
                        break
                except (httpx.HTTPError, ValueError) as exc:
                    last = repr(exc)[:200]
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{name} did not learn the simulated clinics in time (last answer: {last})")
                await asyncio.sleep(0.3)

    def _bar(self, elapsed: float, total: float, tap: EventTap) -> None:
        frac = min(elapsed / total, 1.0) if total else 1.0
        if not self.progress or not sys.stderr.isatty() or int(frac * 100) == self._last_pct:
            return
        self._last_pct = int(frac * 100)
        hours = frac * 24
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        done = sum(1 for s in self.calls.values() if s.outcome)
        print(
            f"\r  [{bar}] simulated {int(hours):02d}:{int(hours % 1 * 60):02d}  calls {done}/{len(self.calls)}"
            f"  events out {len(tap.events)}",
            end="",
            file=sys.stderr,
            flush=True,
        )

    async def run(self, during: ProgressHook | None = None) -> Result:
        """Play the day; `during(fraction)` is awaited as the day advances (fault tests inject there)."""
        started = time.monotonic()
        async with httpx.AsyncClient(timeout=10, headers={"Authorization": f"Bearer {self.token}"}) as http:
            self.http = http
            await ensure_vendor_topics(self.bootstrap, self.plan.clinics)  # a vendor answers on its own
            await publish(self.bootstrap, self.plan.clinics)
            await self._wait_projection()
            async with (
                EventTap(self.bootstrap, [*OUTPUT_TOPICS, *INPUT_DLQS]) as tap,
                EventTap(self.bootstrap, PHONE_TOPICS) as self.phone,
            ):
                self.producer = make_producer(self.bootstrap, client_id="frontdesk-simulator")
                await self.producer.start()
                pump = asyncio.create_task(self._pump(tap))
                try:
                    await self._play(tap, during)
                    await self._settle(tap)
                finally:
                    pump.cancel()
                    for task in list(self._tasks):
                        task.cancel()
                    await asyncio.gather(pump, *self._tasks, return_exceptions=True)
                    await self.producer.stop()
                await self.phone.settle(1.0)  # the last answers the simulator itself sent
                if self.progress and sys.stderr.isatty():
                    print(file=sys.stderr)
                return self._result(tap, time.monotonic() - started)

    async def _play(self, tap: EventTap, during: ProgressHook | None) -> None:
        actions: list[tuple[float, int, Any]] = [(p.at, 0, p) for p in self.plan.presence]
        actions += [(c.at, 1, c) for c in self.plan.calls]
        actions += [(v.at, 2, v) for v in self.plan.visits]
        actions.sort(key=lambda a: (a[0], a[1]))
        total = self.config.day_seconds
        t0 = time.monotonic()
        self._started_ms = int(time.time() * 1000)
        next_hook = 0.0
        for at, _, action in actions:
            while (wait := at - (time.monotonic() - t0)) > 0:
                await asyncio.sleep(min(wait, 0.25))
                self._bar(time.monotonic() - t0, total, tap)
                if during is not None and (frac := (time.monotonic() - t0) / total) >= next_hook:
                    next_hook = frac + 0.05
                    await during(frac)
            if isinstance(action, PlannedPresence):
                await self._presence(action)
            elif isinstance(action, PlannedCall):
                self._spawn(self._call(action))
            else:
                self._spawn(self._visit(action))
        while (elapsed := time.monotonic() - t0) < total:
            await asyncio.sleep(0.25)
            self._bar(elapsed, total, tap)
            if during is not None and elapsed / total >= next_hook:
                next_hook = elapsed / total + 0.05
                await during(elapsed / total)
        self._bar(total, total, tap)
        if during is not None:
            await during(1.0)

    def _pending(self, tap: EventTap) -> list[str]:
        """What is still owed: the outcomes the day's inputs must lead to."""
        ours = [e for e in tap.events if getattr(e.data, "clinic_id", None) in self.clinic_ids]
        by_type: dict[str, list[Any]] = defaultdict(list)
        for e in ours:
            by_type[e.type].append(e.data)
        pending: list[str] = []
        if self._tasks:
            pending.append(f"{len(self._tasks)} simulator tasks")
        answered = {d.request_id for t in ("appointment.booked", "appointment.rejected") for d in by_type[t]}
        if missing := (set(self.requests) | set(self.visit_requests)) - answered:
            pending.append(f"{len(missing)} booking requests unanswered")
        completed = {v for v, s in self.visit_done.items() if s == "completed"}
        seen_visits = {d.visit_id for d in by_type["visit.completed"]}
        checkins = {d.visit_id for d in by_type["followup.scheduled"] if d.kind == "check_in"}
        review_first = {d.visit_id for t in ("review.scheduled", "review.skipped") for d in by_type[t]}
        for what, have in (("visit.completed", seen_visits), ("check-in plans", checkins), ("review", review_first)):
            if n := len(completed - have):
                pending.append(f"{n} visits without {what}")
        noshows = {v.patient_id for v in self.plan.visits if self.visit_done.get(v.visit_id) == "no_show"}
        outreach = {d.patient_id for d in by_type["followup.scheduled"] if d.kind == "no_show"}
        if n := len(noshows - outreach):
            pending.append(f"{n} no-shows without outreach")
        requested = {d.message_request_id for d in by_type["message.requested"]}
        answered_msgs = {d.message_request_id for t in ("message.sent", "message.skipped") for d in by_type[t]}
        if n := len(requested - answered_msgs):
            pending.append(f"{n} message requests unanswered")
        now = datetime.now(UTC)
        due = {d.visit_id for d in by_type["review.scheduled"] if d.send_at <= now - timedelta(seconds=5)}
        decided = {d.visit_id for t in ("review.requested", "review.skipped") for d in by_type[t]}
        if n := len(due - decided):
            pending.append(f"{n} due review requests undecided")
        unrouted = [
            s.plan.call_id
            for s in self.calls.values()
            if s.outcome == "answered" and s.plan.call_id not in {d.call_id for d in by_type["call.routed"]}
        ]
        if unrouted:
            pending.append(f"{len(unrouted)} answered calls never routed")
        return pending

    async def _settle(self, tap: EventTap) -> None:
        deadline = time.monotonic() + self.config.settle_timeout
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if not self._pending(tap):
                await asyncio.sleep(1.0)  # late duplicates would show here
                return
        self.problems.extend(f"not settled after {self.config.settle_timeout:.0f} s: {p}" for p in self._pending(tap))

    def _result(self, tap: EventTap, wall: float) -> Result:
        ours = [e for e in tap.events if getattr(e.data, "clinic_id", None) in self.clinic_ids]
        problems = list(self.problems)
        ids = Counter(e.id for e in ours)
        redelivered = sum(n - 1 for n in ids.values())
        unique = {e.id: e for e in ours}.values()
        by_type: dict[str, list[Any]] = defaultdict(list)
        for e in unique:
            by_type[e.type].append(e.data)
        # A side effect is duplicated when the same business fact comes out under two event ids.
        keys: dict[str, Callable[[Any], Any]] = {
            "call.overflowed": lambda d: (d.call_id, d.attempt),
            "call.offered": lambda d: (d.call_id, d.attempt, d.target_id),
            "callback.requested": lambda d: d.callback_id,
            "appointment.booked": lambda d: d.request_id,
            "appointment.rejected": lambda d: d.request_id,
            "visit.completed": lambda d: d.visit_id,
            "followup.scheduled": lambda d: d.followup_id,
            "followup.sent": lambda d: d.followup_id,
            "message.requested": lambda d: d.message_request_id,
            "message.sent": lambda d: d.message_request_id,
            "review.scheduled": lambda d: d.visit_id,
            "review.requested": lambda d: d.visit_id,
            "review.received": lambda d: d.visit_id,
        }
        duplicates: dict[str, int] = {}
        for t, key in keys.items():
            counts = Counter(key(d) for d in by_type[t])
            if n := sum(c - 1 for c in counts.values()):
                duplicates[t] = n
                problems.append(f"duplicate side effect: {n} x {t}")
        problems += [f"partition order broken: {gap}" for gap in tap.order_gaps()]
        dead = [r for r in tap.raw if r.topic.endswith(".dlq") and self.plan.run_id.encode() in (r.value or b"")]
        if dead:
            problems.append(f"{len(dead)} of the simulator's own records were dead-lettered")
        # Every call reached a human, never voicemail.
        routes: dict[str, list[Any]] = defaultdict(list)
        for d in by_type["call.routed"]:
            routes[d.call_id].append(d)
        human = {"receptionist", "pool", "sister_clinic", "answering_service", "on_call"}
        for s in self.calls.values():
            r = routes.get(s.plan.call_id, [])
            if any(x.target_kind not in human or "voicemail" in x.target_id.lower() for x in r):
                problems.append(f"{s.plan.call_id} routed to a non-human target")
            if s.outcome != "abandoned" and not r:
                problems.append(f"{s.plan.call_id} was never routed")
            if s.outcome is None:
                problems.append(f"{s.plan.call_id} has no outcome")
        # No double booking: live bookings of a provider never overlap.
        gone = {d.appointment_id for t in ("appointment.cancelled", "appointment.no_show") for d in by_type[t]}
        live: dict[str, list[Any]] = defaultdict(list)
        for d in by_type["appointment.booked"]:
            if d.appointment_id not in gone:
                live[d.provider_id].append(d)
        for provider, items in live.items():
            items.sort(key=lambda d: d.starts_at)
            for a, b in itertools.pairwise(items):
                if b.starts_at < a.ends_at:
                    problems.append(f"double booking for {provider}: {a.appointment_id} and {b.appointment_id}")
        # Every completed visit: exactly one check-in plan, and one review decision.
        completed = {v for v, s in self.visit_done.items() if s == "completed"}
        checkins = Counter(d.visit_id for d in by_type["followup.scheduled"] if d.kind == "check_in")
        first = Counter(d.visit_id for t in ("review.scheduled", "review.skipped") for d in by_type[t])
        final = Counter(d.visit_id for t in ("review.requested",) for d in by_type[t])
        for v in sorted(completed):
            if checkins[v] != 1:
                problems.append(f"{v} has {checkins[v]} check-in plans")
            if first[v] < 1:
                problems.append(f"{v} has no review request or recorded skip")
            if final[v] > 1:
                problems.append(f"{v} was asked for a review {final[v]} times")
        # No message goes out in quiet hours (08:00-21:00 in the patient's zone = the clinic's here).
        for t in ("followup.sent", "message.sent"):
            for d in by_type[t]:
                local = d.sent_at.astimezone(self.zone[d.clinic_id]).time()
                if not dtime(8) <= local < dtime(21):
                    problems.append(f"{t} for {d.patient_id} at {local} local: inside quiet hours")
        failed_visits = [v for v, s in self.visit_done.items() if s == "failed"]
        if failed_visits:
            problems.append(f"{len(failed_visits)} visits could not be booked/completed: {failed_visits[:3]}")
        per_clinic = {c.clinic_id: self._clinic_report(c, by_type) for c in self.plan.clinics}
        timelines = build_timelines(
            [*(self.phone.stamped() if self.phone else []), *tap.stamped()],
            {c.clinic_id: c for c in self.plan.clinics},
            self.silent_between,
        )
        time_to_human = {
            c.clinic_id: summarize([t for t in timelines if t.clinic_id == c.clinic_id]) for c in self.plan.clinics
        }
        return Result(
            run_id=self.plan.run_id,
            clinics=self.plan.clinics,
            events_in=self.events_in,
            http_commands=self.http_commands,
            events_out=len(ours),
            redelivered=redelivered,
            duplicates=duplicates,
            dead_letters=len(dead),
            per_clinic=per_clinic,
            problems=problems,
            wall_seconds=wall,
            time_to_human=time_to_human,
            silent=self._describe_silence(),
            routing=self._routing(tap),
        )

    def _routing(self, tap: EventTap) -> list[tuple[float, float]]:
        """How long the router took from each call's arrival to its first routing decision."""
        phone = self.phone.stamped() if self.phone else []
        received = {e.data.call_id: ms for ms, e in phone if isinstance(e.data, CallReceived)}
        routed: dict[str, int] = {}
        for ms, e in tap.stamped():
            if isinstance(e.data, CallRouted) and e.data.call_id in received:
                routed[e.data.call_id] = min(ms, routed.get(e.data.call_id, ms))
        return sorted((received[c] / 1000, (ms - received[c]) / 1000) for c, ms in routed.items())

    def _describe_silence(self) -> str:
        if (window := self.config.silent_window) is None or (span := self._silent_span()) is None:
            return "No vendor was silent."
        start, end = (datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M:%S") for ms in span)
        return (
            f"{SILENT_VENDOR} (every clinic's primary vendor) answered nothing from {start} to {end} UTC"
            f" ({window[0]:.0%}-{window[1]:.0%} of the simulated day)."
        )

    def _clinic_report(self, clinic: ClinicConfig, by_type: dict[str, list[Any]]) -> dict[str, Any]:
        cid = clinic.clinic_id
        budget = clinic.phone.ring_seconds * clinic.phone.rings
        calls = [s for s in self.calls.values() if s.plan.clinic_id == cid]
        answered = [s for s in calls if s.outcome == "answered"]
        abandoned = [s for s in calls if s.outcome == "abandoned"]

        def waited(s: CallState) -> float:
            assert s.outcome_at is not None and s.received_at is not None
            return (s.outcome_at - s.received_at).total_seconds()

        short = [s for s in abandoned if waited(s) <= 5]
        within = [s for s in answered if waited(s) <= budget]
        denominator = len(calls) - len(short)
        mine = {k: [d for d in v if d.clinic_id == cid] for k, v in by_type.items()}
        overflowed = {d.call_id for d in mine.get("call.overflowed", [])}
        first_route: dict[str, Any] = {}
        for d in sorted(mine.get("call.routed", []), key=lambda d: d.attempt):
            first_route.setdefault(d.call_id, d)
        after_hours = [d for d in first_route.values() if d.reason in ("after_hours", "closure")]
        visits = [v for v in self.plan.visits if v.clinic_id == cid]
        return {
            "calls": len(calls),
            "answered": len(answered),
            "service_level": len(within) / denominator if denominator else None,
            "overflow_share": len(overflowed) / len(calls) if calls else None,
            "after_hours_share": len(after_hours) / len(first_route) if first_route else None,
            "abandonment": len(abandoned) / len(calls) if calls else None,
            "booked": len(mine.get("appointment.booked", [])),
            "rejected": len(mine.get("appointment.rejected", [])),
            "reminders_sent": sum(1 for d in mine.get("followup.sent", []) if d.kind == "reminder"),
            "replies": len(mine.get("appointment.reply_received", [])),
            "visits_completed": sum(1 for v in visits if self.visit_done.get(v.visit_id) == "completed"),
            "no_shows": sum(1 for v in visits if self.visit_done.get(v.visit_id) == "no_show"),
            "followups_planned": len(mine.get("followup.scheduled", [])),
            "review_requests": len(mine.get("review.requested", [])),
            "review_skips": len(mine.get("review.skipped", [])),
            "review_responses": len(mine.get("review.received", [])),
            "callbacks": len(mine.get("callback.requested", [])),
        }


async def simulate(
    bootstrap: str,
    service_urls: dict[str, str],
    config: SimConfig,
    *,
    token: str,
    progress: bool = True,
    during: ProgressHook | None = None,
) -> Result:
    return await Simulator(bootstrap, service_urls, config, token=token, progress=progress).run(during)
