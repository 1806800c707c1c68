"""console's process: its event handlers (the read model), migrations and pages; and
`frontdesk-console rebuild`, which rebuilds the read model from the topics' retention (rebuild.py)."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from frontdesk.common.clinics import project_clinic
from frontdesk.common.consumer import Handler
from frontdesk.common.contracts import ClinicConfigured, Event
from frontdesk.common.logging import configure_logging
from frontdesk.common.service import ServiceDefinition, run_service
from frontdesk.common.settings import ServiceSettings

from .. import projection, rebuild
from ..settings import current as settings
from .oidc import router as oidc
from .pages import router as pages
from .screen_pages import router as screen_pages
from .worklist_pages import router as worklist_pages

DEFINITION = ServiceDefinition(
    name="console",
    handlers=projection.HANDLERS,
    # a pure projector: a partition's queued events per transaction, the summaries settled per batch
    batch_scope=projection.batch_scope,
    migrations=Path(__file__).resolve().parent.parent / "migrations",
    # The pages carry their own proof (a signed session cookie), not a bearer token.
    public_routers=[pages, oidc, worklist_pages, screen_pages],
)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="frontdesk-console", description="The staff console.")
    parser.add_argument(
        "command",
        nargs="?",
        choices=["serve", "rebuild"],
        default="serve",
        help="serve (default): the pages and the read model's consumer; rebuild: rebuild the read model"
        " from the topics' retention and swap it in (the running consoles keep serving)",
    )
    if parser.parse_args(argv).command == "rebuild":
        service = ServiceSettings.for_service("console")
        configure_logging(service.service, service.log_level, service.log_json)
        handlers_of: dict[type[Event], Handler] = {ClinicConfigured: project_clinic, **DEFINITION.handlers}
        done = asyncio.run(rebuild.rebuild(service, handlers_of, projection.batch_scope))
        print(f"rebuilt {', '.join(done.tables)} from {done.records} events ({done.skipped} skipped)")
        return
    settings()  # refuse to start without session keys (outside the local stack)
    run_service(DEFINITION)
