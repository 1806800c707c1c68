"""call-router's process: its event handlers, timers, migrations and HTTP API."""

from __future__ import annotations

from pathlib import Path

from frontdesk.common.contracts import (
    VENDOR_EVENTS_TOPIC,
    AgentStatusChanged,
    CallAbandoned,
    CallAnswered,
    CallDeclined,
    CallEnded,
    CallReceived,
    ClinicConfigured,
    NetworkConfigured,
    VendorAppointmentRequested,
    VendorHeartbeat,
    VendorMessageTaken,
    VendorPageAcknowledged,
    VendorPageSent,
)
from frontdesk.common.service import ServiceDefinition, run_service
from frontdesk.common.timer_payloads import (
    CallersPruneTimer,
    DigestReleaseTimer,
    OncallPageTimer,
    RingTimeoutTimer,
    VendorAnswerTimer,
    VendorHedgeTimer,
    VendorTopicsTimer,
)

from ..caller_numbers import on_prune
from ..declines import handle_call_declined
from ..handlers import (
    handle_agent_status_changed,
    handle_call_abandoned,
    handle_call_answered,
    handle_call_ended,
    handle_call_received,
    on_ring_timeout,
)
from ..messages import (
    handle_heartbeat,
    handle_message_taken,
    handle_page_acknowledged,
    handle_page_sent,
    on_digest_due,
)
from ..network import handle_network_configured
from ..paging import on_page_due
from ..unknown_clinics import handle_clinic_configured
from ..vendor_deadlines import on_vendor_answer_deadline, on_vendor_hedge
from ..vendor_requests import handle_appointment_requested
from ..vendor_topics import on_vendor_topics
from .callers import router as callers_router
from .http import router

DEFINITION = ServiceDefinition(
    name="call-router",
    handlers={
        # replaces the default projection handler: projects the clinic, provisions vendor topics and
        # routes the calls held for it
        ClinicConfigured: handle_clinic_configured,
        NetworkConfigured: handle_network_configured,
        CallReceived: handle_call_received,
        CallAnswered: handle_call_answered,
        CallAbandoned: handle_call_abandoned,
        CallDeclined: handle_call_declined,
        CallEnded: handle_call_ended,
        AgentStatusChanged: handle_agent_status_changed,
        VendorMessageTaken: handle_message_taken,
        VendorPageSent: handle_page_sent,
        VendorPageAcknowledged: handle_page_acknowledged,
        VendorHeartbeat: handle_heartbeat,
        VendorAppointmentRequested: handle_appointment_requested,
    },
    # What vendors report and ask for (answers, messages, pages, heartbeats, appointment requests)
    # arrives on each vendor's own topic.
    topic_patterns=(VENDOR_EVENTS_TOPIC,),
    timer_handlers={
        RingTimeoutTimer: on_ring_timeout,
        VendorAnswerTimer: on_vendor_answer_deadline,
        VendorHedgeTimer: on_vendor_hedge,
        VendorTopicsTimer: on_vendor_topics,
        OncallPageTimer: on_page_due,
        DigestReleaseTimer: on_digest_due,
        CallersPruneTimer: on_prune,
    },
    migrations=Path(__file__).resolve().parent.parent / "migrations",
    routers=[router, callers_router],
)


def main() -> None:
    run_service(DEFINITION)
