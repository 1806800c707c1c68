"""Event handlers: each event of a clinic writes its own facts into the read model. Nothing here
decides anything: the screens derive a call's state and the day's metrics from these facts
(domain/board.py); what a batch of events changes as a whole (the hour summaries, each clinic's
version) is settled once per batch by projection.py.
call.* -> console_calls;  agent.* -> console_agents;  callback.requested -> console_callbacks;
clinic.configured -> the shared clinic directory.
"""

from __future__ import annotations

from frontdesk.common.clinics import project_clinic
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
from frontdesk.common.uow import UnitOfWork

from .adapters import repository


async def handle_call_received(event: CallReceived, uow: UnitOfWork) -> None:
    await repository.call_received(uow.conn, event.call_id, event.clinic_id, event.received_at, event.intent)


async def handle_call_routed(event: CallRouted, uow: UnitOfWork) -> None:
    """Where the call went is shown by its offers and hand-overs: a routing decision is activity only."""


async def handle_call_offered(event: CallOffered, uow: UnitOfWork) -> None:
    await repository.call_offered(
        uow.conn, event.call_id, event.clinic_id, event.offered_at, event.target_kind, event.target_id
    )


async def handle_call_overflowed(event: CallOverflowed, uow: UnitOfWork) -> None:
    await repository.call_overflowed(
        uow.conn, event.call_id, event.clinic_id, event.vendor_id, event.overflowed_at, event.answer_by
    )


async def handle_call_answered(event: CallAnswered, uow: UnitOfWork) -> None:
    await repository.call_answered(
        uow.conn, event.call_id, event.clinic_id, event.answered_at, event.answered_by_kind, event.answered_by_id
    )


async def handle_call_abandoned(event: CallAbandoned, uow: UnitOfWork) -> None:
    await repository.call_abandoned(uow.conn, event.call_id, event.clinic_id, event.abandoned_at)


async def handle_call_ended(event: CallEnded, uow: UnitOfWork) -> None:
    await repository.call_ended(uow.conn, event.call_id, event.clinic_id, event.ended_at)


async def handle_agent_status_changed(event: AgentStatusChanged, uow: UnitOfWork) -> None:
    await repository.agent_status(
        uow.conn, event.clinic_id, event.receptionist_id, event.status, None, event.changed_at
    )


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
