"""console's process: its event handlers (the read model), migrations and pages."""

from __future__ import annotations

from pathlib import Path

from frontdesk.common.contracts import (
    AgentAutoPaused,
    AgentStatusChanged,
    CallAbandoned,
    CallAnswered,
    CallbackRequested,
    CallEnded,
    CallOffered,
    CallOverflowed,
    CallReceived,
    CallRouted,
    ClinicConfigured,
)
from frontdesk.common.service import ServiceDefinition, run_service

from .. import handlers, schedule, trends, worklists
from ..settings import current as settings
from .pages import router as pages
from .screen_pages import router as screen_pages
from .worklist_pages import router as worklist_pages

DEFINITION = ServiceDefinition(
    name="console",
    handlers={
        # replaces the default projection handler: projects the clinic, then marks it changed
        ClinicConfigured: handlers.handle_clinic_configured,
        CallReceived: handlers.handle_call_received,
        CallRouted: handlers.handle_call_routed,
        CallOffered: handlers.handle_call_offered,
        CallOverflowed: handlers.handle_call_overflowed,
        CallAnswered: handlers.handle_call_answered,
        CallAbandoned: handlers.handle_call_abandoned,
        CallEnded: handlers.handle_call_ended,
        AgentStatusChanged: handlers.handle_agent_status_changed,
        AgentAutoPaused: handlers.handle_agent_auto_paused,
        CallbackRequested: handlers.handle_callback_requested,
        **worklists.HANDLERS,
        **schedule.HANDLERS,
        **trends.HANDLERS,
    },
    migrations=Path(__file__).resolve().parent.parent / "migrations",
    # The pages carry their own proof (a signed session cookie), not a bearer token.
    public_routers=[pages, worklist_pages, screen_pages],
)


def main() -> None:
    settings()  # refuse to start without session keys (outside the local stack)
    run_service(DEFINITION)
