"""followup's process: its event handlers, timers, migrations and HTTP API."""

from __future__ import annotations

from pathlib import Path

from frontdesk.common.contracts import VisitCompleted
from frontdesk.common.service import ServiceDefinition, run_service

from ..handlers import handle_visit_completed
from .http import router

DEFINITION = ServiceDefinition(
    name="followup",
    handlers={VisitCompleted: handle_visit_completed},
    migrations=Path(__file__).resolve().parent.parent / "migrations",
    routers=[router],
)


def main() -> None:
    run_service(DEFINITION)
