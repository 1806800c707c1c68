"""scheduler's process: its event handlers, timers, migrations, HTTP API and MLLP listener."""

from __future__ import annotations

from pathlib import Path

from frontdesk.common import patient_links
from frontdesk.common.contracts import (
    AppointmentReplyReceived,
    AppointmentRequested,
    BookingCodeFailed,
    ClinicConfigured,
)
from frontdesk.common.service import ServiceDefinition, run_service
from frontdesk.common.timer_payloads import (
    Hl7HeldTimer,
    HoldExpiryTimer,
    OfferExpiryTimer,
    ReminderTimer,
    RescheduleWindowTimer,
)

from .. import hl7 as hl7_inbound
from .. import hl7_held
from ..handlers import (
    handle_appointment_requested,
    handle_code_failed,
    handle_reply_received,
    on_hold_expiry,
    on_reminder,
)
from ..reschedule_requests import on_window_closed
from ..waitlist import on_offer_expiry
from . import appointments, booking_links, booking_pages, fhir, hl7, mllp, patient_pages, patients, providers, waitlist

DEFINITION = ServiceDefinition(
    name="scheduler",
    handlers={
        # replaces the default projection handler: projects the clinic, then applies the HL7 held for it
        ClinicConfigured: hl7_held.handle_clinic_configured,
        AppointmentRequested: handle_appointment_requested,
        AppointmentReplyReceived: handle_reply_received,
        BookingCodeFailed: handle_code_failed,
    },
    migrations=Path(__file__).resolve().parent.parent / "migrations",
    timer_handlers={
        HoldExpiryTimer: on_hold_expiry,
        ReminderTimer: on_reminder,
        OfferExpiryTimer: on_offer_expiry,
        RescheduleWindowTimer: on_window_closed,
        Hl7HeldTimer: hl7_held.on_held_due,
    },
    routers=[
        appointments.router,
        providers.router,
        patients.router,
        waitlist.router,
        booking_links.router,
        hl7.router,
        fhir.router,
    ],
    public_routers=[patient_pages.router, booking_pages.router, fhir.public_router],
    tasks=[mllp.listen, hl7_held.report_held],
)


def main() -> None:
    patient_links.current("scheduler")  # refuse to start without the keys of the patients' links
    mllp.current()  # nor with an MLLP listener that would take HL7 without TLS off the local stack
    hl7_inbound.settings()  # nor with a processing id (MSH-11) that is not P, T or D
    run_service(DEFINITION)
