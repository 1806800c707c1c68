"""scheduler's process: its event handlers, timers, migrations and HTTP API."""

from __future__ import annotations

from pathlib import Path

from frontdesk.common.contracts import AppointmentRequested
from frontdesk.common.service import ServiceDefinition, run_service

from ..handlers import handle_appointment_requested
from .http import router

DEFINITION = ServiceDefinition(
    name="scheduler",
    handlers={AppointmentRequested: handle_appointment_requested},
    migrations=Path(__file__).resolve().parent.parent / "migrations",
    routers=[router],
)


def main() -> None:
    run_service(DEFINITION)
