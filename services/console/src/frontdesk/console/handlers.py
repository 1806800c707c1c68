"""Event handlers: each event of a clinic writes its own facts into the read model. Nothing here
decides anything: the screens derive a call's state and the day's metrics from these facts
(domain/board.py). What a batch of events changes as a whole is settled once per batch by
projection.py: the calls' rows (call.* -> console_calls, domain/call_facts.py), the hour summaries,
each clinic's version.
agent.* -> console_agents;  callback.requested -> console_callbacks;  clinic.configured -> the shared
clinic directory.
"""

from __future__ import annotations

from datetime import UTC, datetime

from frontdesk.common.clinics import project_clinic
from frontdesk.common.contracts import (
    AgentAutoPaused,
    AgentStatusChanged,
    CallbackRequested,
    CallRouted,
    ClinicConfigured,
)
from frontdesk.common.uow import UnitOfWork

from .adapters import repository
from .domain.call_facts import CallFact


async def handle_call_fact(event: CallFact, uow: UnitOfWork) -> None:
    """A call's events change its row, computed per batch: projection.batch_scope applies them to the
    rows it read (domain/call_facts.py) and writes the changed rows in one statement."""


async def handle_call_routed(event: CallRouted, uow: UnitOfWork) -> None:
    """Where the call went is shown by its offers and hand-overs: a routing decision is activity only."""


async def handle_agent_status_changed(event: AgentStatusChanged, uow: UnitOfWork) -> None:
    changed_at = event.changed_by(datetime.now(UTC))
    await repository.agent_status(uow.conn, event.clinic_id, event.receptionist_id, event.status, None, changed_at)


async def handle_agent_auto_paused(event: AgentAutoPaused, uow: UnitOfWork) -> None:
    await repository.agent_status(
        uow.conn, event.clinic_id, event.receptionist_id, "paused", event.reason, event.paused_at
    )


async def handle_callback_requested(event: CallbackRequested, uow: UnitOfWork) -> None:
    await repository.callback_requested(
        uow.conn, event.callback_id, event.clinic_id, event.reason, event.urgency, event.requested_at
    )


async def handle_clinic_configured(event: ClinicConfigured, uow: UnitOfWork) -> None:
    await project_clinic(event, uow)
