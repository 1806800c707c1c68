"""call-router's process: its event handlers, timers, migrations and HTTP API."""

from __future__ import annotations

from pathlib import Path

from frontdesk.common.contracts import (
    AgentStatusChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallReceived,
    ClinicConfigured,
)
from frontdesk.common.service import ServiceDefinition, run_service

from ..handlers import (
    RING_TIMEOUT,
    VENDOR_ANSWER,
    handle_agent_status_changed,
    handle_call_abandoned,
    handle_call_answered,
    handle_call_ended,
    handle_call_received,
    on_ring_timeout,
    on_vendor_answer_deadline,
)
from ..vendor_topics import VENDOR_TOPICS, handle_clinic_configured, on_vendor_topics
from .http import router

DEFINITION = ServiceDefinition(
    name="call-router",
    handlers={
        # replaces the default projection handler: projects the clinic, then provisions vendor topics
        ClinicConfigured: handle_clinic_configured,
        CallReceived: handle_call_received,
        CallAnswered: handle_call_answered,
        CallAbandoned: handle_call_abandoned,
        CallEnded: handle_call_ended,
        AgentStatusChanged: handle_agent_status_changed,
    },
    timer_handlers={
        RING_TIMEOUT: on_ring_timeout,
        VENDOR_ANSWER: on_vendor_answer_deadline,
        VENDOR_TOPICS: on_vendor_topics,
    },
    migrations=Path(__file__).resolve().parent.parent / "migrations",
    routers=[router],
)


def main() -> None:
    run_service(DEFINITION)
