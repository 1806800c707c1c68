"""call-router's process: its event handlers, timers, migrations and HTTP API."""

from __future__ import annotations

from pathlib import Path

from frontdesk.common.contracts import CallReceived
from frontdesk.common.service import ServiceDefinition, run_service

from ..handlers import handle_call_received
from .http import router

DEFINITION = ServiceDefinition(
    name="call-router",
    handlers={CallReceived: handle_call_received},
    migrations=Path(__file__).resolve().parent.parent / "migrations",
    routers=[router],
)


def main() -> None:
    run_service(DEFINITION)
