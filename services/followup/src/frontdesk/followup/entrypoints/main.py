"""followup's process: its event handlers, timers, migrations and HTTP API."""

from __future__ import annotations

from pathlib import Path

from frontdesk.common import patient_links
from frontdesk.common.contracts import (
    AppointmentBooked,
    AppointmentCancelled,
    AppointmentNoShow,
    AppointmentReminderDue,
    AppointmentRescheduled,
    BookingCodeRequested,
    BookingContactVerified,
    BookingLinkRequested,
    CallbackRequested,
    MessageRequested,
    RescheduleRequested,
    VisitCompleted,
    WaitlistOfferClosed,
    WaitlistOffered,
)
from frontdesk.common.service import ServiceDefinition, run_service
from frontdesk.common.timer_payloads import (
    BookingCodeRetryTimer,
    BookingLinkSendTimer,
    CallbackEscalateTimer,
    SendMessageTimer,
)

from .. import booking_codes, booking_links, contacts, handlers, offers, reschedules, sending
from ..settings import current as settings
from .http import links_router, router, webhooks_router

DEFINITION = ServiceDefinition(
    name="followup",
    handlers={
        MessageRequested: handlers.handle_message_requested,
        AppointmentReminderDue: handlers.handle_reminder_due,
        VisitCompleted: handlers.handle_visit_completed,
        AppointmentBooked: handlers.handle_booked,
        AppointmentCancelled: handlers.handle_cancelled,
        AppointmentRescheduled: handlers.handle_rescheduled,
        AppointmentNoShow: handlers.handle_no_show,
        CallbackRequested: handlers.handle_callback_requested,
        WaitlistOffered: offers.handle_offer,
        RescheduleRequested: reschedules.handle_reschedule_requested,
        WaitlistOfferClosed: offers.handle_offer_closed,
        BookingCodeRequested: booking_codes.handle_code_requested,
        BookingContactVerified: contacts.handle_contact_verified,
        BookingLinkRequested: booking_links.handle_link_requested,
    },
    migrations=Path(__file__).resolve().parent.parent / "migrations",
    timer_handlers={
        SendMessageTimer: sending.on_send_timer,
        CallbackEscalateTimer: handlers.on_callback_escalate,
        BookingCodeRetryTimer: booking_codes.on_retry,
        BookingLinkSendTimer: booking_links.on_timer,
    },
    # A send mostly waits on the provider's answer (at 100 ms an answer, two at a time cap a replica
    # at 20 messages/s): eight sends wait at once.
    timer_concurrency=8,
    routers=[router],
    public_routers=[webhooks_router, links_router],
)


def main() -> None:
    settings()  # refuse to start without the provider and its secrets (outside the local stack)
    patient_links.current("followup")  # ... or without the keys that sign links to the patient pages
    run_service(DEFINITION)
