"""Event handlers: thin glue between events, the domain and the database."""

from __future__ import annotations

from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import CallReceived, CallRouted
from frontdesk.common.uow import UnitOfWork

from . import domain
from .adapters import repository


class UnknownClinic(Exception):
    """The clinic's configuration has not arrived (yet): retried, then dead-lettered for an operator."""


async def handle_call_received(event: CallReceived, uow: UnitOfWork) -> None:
    clinic = await get_clinic(uow.conn, event.clinic_id)
    if clinic is None:
        raise UnknownClinic(f"no configuration for clinic {event.clinic_id}")
    decision = domain.decide_route(clinic, event.received_at)
    if not await repository.record_route(uow.conn, event, decision):
        return  # this call was already routed (same call_id under another event id)
    await uow.emit(
        CallRouted(
            call_id=event.call_id,
            clinic_id=event.clinic_id,
            target_kind=decision.target_kind,
            target_id=decision.target_id,
            reason=decision.reason,
            answer_by=decision.answer_by,
        )
    )
