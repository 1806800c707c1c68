"""reviews' process: its event handlers, timers, migrations and HTTP API."""

from __future__ import annotations

from pathlib import Path

from frontdesk.common.contracts import ContactPreferenceChanged, MessageSent, MessageSkipped, VisitCompleted
from frontdesk.common.service import ServiceDefinition, run_service
from frontdesk.common.timer_payloads import ReputationWeeklyTimer, ReviewRecoveryDeadlineTimer, ReviewSendTimer

from .. import handlers, recovery, reputation
from ..settings import current as settings
from .http import feedback_router, router

DEFINITION = ServiceDefinition(
    name="reviews",
    handlers={
        VisitCompleted: handlers.handle_visit_completed,
        MessageSent: handlers.handle_message_sent,
        MessageSkipped: handlers.handle_message_skipped,
        ContactPreferenceChanged: handlers.handle_preference_changed,
    },
    timer_handlers={
        ReviewSendTimer: handlers.on_send_due,
        ReviewRecoveryDeadlineTimer: recovery.on_recovery_deadline,
        ReputationWeeklyTimer: reputation.on_weekly_reputation,
    },
    migrations=Path(__file__).resolve().parent.parent / "migrations",
    routers=[router],
    public_routers=[feedback_router],
)


def main() -> None:
    settings()  # refuse to start without link-signing keys (outside the local stack)
    run_service(DEFINITION)
