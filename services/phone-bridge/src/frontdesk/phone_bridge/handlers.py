"""The router's decisions, the clinics' SIP directories and the receptionists' presence, from the events
into the switchboard's memory.

Each handler updates memory (the consumer's inbox still makes a redelivered event a no-op, and the
switchboard ignores a decision it already has); the clinics and the desks' presence are also kept in
the database, to be read back at start-up. Nothing here is on the proxy's call path.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from frontdesk.common.clinics import get_clinic, project_clinic
from frontdesk.common.contracts import (
    AgentAutoPaused,
    AgentStatusChanged,
    CallOffered,
    CallOverflowed,
    ClinicConfigured,
    Event,
)
from frontdesk.common.uow import UnitOfWork

from .adapters import presence_store
from .adapters.presence_store import DeskPresence
from .switchboard import Switchboard, utc_now

Handler = Callable[[Any, UnitOfWork], Awaitable[None]]


def handlers(switchboard: Switchboard) -> dict[type[Event], Handler]:
    async def clinic_configured(event: ClinicConfigured, uow: UnitOfWork) -> None:
        await project_clinic(event, uow)  # read back at start-up (clinics.configured is compacted)
        # What the projection holds now: this event, or a newer one it was read after.
        switchboard.learn_clinic(await get_clinic(uow.conn, event.clinic_id) or event.config)

    async def router_decided(event: CallOffered | CallOverflowed, uow: UnitOfWork) -> None:
        switchboard.router_decided(event)

    async def presence(desk: DeskPresence, uow: UnitOfWork) -> None:
        await presence_store.save(uow.conn, desk)  # read back at start-up
        switchboard.learn_presence(desk.clinic_id, desk.receptionist_id, desk.status, desk.changed_at)

    async def status_changed(event: AgentStatusChanged, uow: UnitOfWork) -> None:
        changed_at = event.changed_by(utc_now())
        await presence(DeskPresence(event.clinic_id, event.receptionist_id, event.status, changed_at), uow)

    async def auto_paused(event: AgentAutoPaused, uow: UnitOfWork) -> None:
        await presence(DeskPresence(event.clinic_id, event.receptionist_id, "paused", event.paused_at), uow)

    return {
        ClinicConfigured: clinic_configured,
        CallOffered: router_decided,
        CallOverflowed: router_decided,
        AgentStatusChanged: status_changed,  # the presence the bridge rings by when the router is silent
        AgentAutoPaused: auto_paused,
    }
