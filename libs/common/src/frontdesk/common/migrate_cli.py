"""Apply one service's database migrations and exit: `python -m frontdesk.common.migrate_cli <service>`.

The same `migrate()` the service runs at start-up (shared migrations first, then the service's own,
under an advisory lock), for a Kubernetes init container or Job, or by hand before an upgrade. The
database comes from the service's settings: `<SERVICE>_DATABASE_URL`, else `DATABASE_URL`.
Exit code 0 when the schema is current (whether or not anything was applied).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys

from .db import create_pool, migrate
from .logging import configure_logging, get_logger
from .service import ServiceDefinition
from .settings import ServiceSettings

log = get_logger(__name__)


def service_definition(service: str) -> ServiceDefinition:
    """The ServiceDefinition of `service` (e.g. "call-router" -> frontdesk.call_router.entrypoints.main)."""
    module = importlib.import_module(f"frontdesk.{service.replace('-', '_')}.entrypoints.main")
    definition = getattr(module, "DEFINITION", None)
    if not isinstance(definition, ServiceDefinition) or definition.name != service:
        raise LookupError(f"{module.__name__} has no DEFINITION for service {service!r}")
    return definition


async def run(service: str) -> list[str]:
    definition = service_definition(service)
    settings = ServiceSettings.for_service(service)
    pool = await create_pool(settings.database_url, size=2)
    try:
        return await migrate(pool, definition.migrations)
    finally:
        await pool.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Apply a Frontdesk service's database migrations and exit.")
    parser.add_argument("service", help="the service name, e.g. scheduler or call-router")
    args = parser.parse_args(argv)
    settings = ServiceSettings.for_service(args.service)
    configure_logging(args.service, settings.log_level, settings.log_json)
    try:
        applied = asyncio.run(run(args.service))
    except (ImportError, LookupError) as exc:
        print(f"unknown service {args.service!r}: {exc}", file=sys.stderr)
        return 2
    log.info("migrations current", applied=len(applied))
    return 0


if __name__ == "__main__":
    sys.exit(main())
