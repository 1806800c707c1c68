"""The network-wide settings (`network.configured`): today, the fallback for unknown clinics.

The operator publishes them with the clinics (`frontdesk apply -f`, a `network:` section) on their
own compacted topic. The router keeps the latest document in `network_config` and provisions the
fallback vendors' own topics as it does for a clinic's. handlers.py routes a call whose clinic it
has no configuration for to the fallback at once (reason `unknown_clinic`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from frontdesk.common.contracts import NetworkConfigured, NetworkFallback
from frontdesk.common.timer_payloads import VendorTopicsTimer
from frontdesk.common.uow import UnitOfWork

from .adapters import network_config, topics

NETWORK = "network"  # the one network document's key
# The parsed fallback, valid while the projection row's event_id is the same.
_CACHE: dict[str, tuple[str, NetworkFallback | None]] = {}


async def handle_network_configured(event: NetworkConfigured, uow: UnitOfWork) -> None:
    event_id = uow.cause.id if uow.cause else ""
    await network_config.save(uow.conn, event, event_id)
    vendor_ids = event.fallback.vendor_ids() if event.fallback else []
    if vendor_ids and await topics.want_vendor_topics(uow.conn, vendor_ids):
        await uow.set_timer(f"vendor-topics:network:{event.network_id}", datetime.now(UTC), VendorTopicsTimer())


async def fallback(uow: UnitOfWork) -> NetworkFallback | None:
    """The network's fallback for unknown clinics (None: not configured)."""
    stored = await network_config.read(uow.conn, NETWORK)
    if stored is None:
        return None
    cached = _CACHE.get(NETWORK)
    if cached is not None and cached[0] == stored.event_id:
        return cached[1]
    parsed = NetworkConfigured.model_validate(stored.config).fallback
    _CACHE[NETWORK] = (stored.event_id, parsed)
    return parsed
