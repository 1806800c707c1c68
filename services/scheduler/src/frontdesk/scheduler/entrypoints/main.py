"""scheduler's process: its event handlers, timers, migrations and HTTP API."""

from __future__ import annotations

from pathlib import Path

from frontdesk.common.contracts import AppointmentReplyReceived, AppointmentRequested
from frontdesk.common.service import ServiceDefinition, run_service

from ..booking import HOLD_TIMER, REMINDER_TIMER
from ..handlers import handle_appointment_requested, handle_reply_received, on_hold_expiry, on_reminder
from ..waitlist import OFFER_TIMER, on_offer_expiry
from . import appointments, fhir, hl7, patients, providers, waitlist

DEFINITION = ServiceDefinition(
    name="scheduler",
    handlers={AppointmentRequested: handle_appointment_requested, AppointmentReplyReceived: handle_reply_received},
    migrations=Path(__file__).resolve().parent.parent / "migrations",
    timer_handlers={HOLD_TIMER: on_hold_expiry, REMINDER_TIMER: on_reminder, OFFER_TIMER: on_offer_expiry},
    routers=[appointments.router, providers.router, patients.router, waitlist.router, hl7.router, fhir.router],
)


def main() -> None:
    run_service(DEFINITION)
