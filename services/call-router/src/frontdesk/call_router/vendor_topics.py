"""Per-vendor topics: `vendor.<vendor_id>.calls` carries only the calls handed to that vendor, and
`vendor.<vendor_id>.events` what that vendor reports back (with its dead-letter twin).

Vendors come from clinic configuration, not from the static registry, so the router creates their
topics itself: when a clinic.configured names a vendor it has not provisioned, a durable timer
creates the missing topics (idempotent) and marks them ready. `frontdesk apply` creates them too,
before it publishes the clinics. Until a vendor's topic is ready its calls still go out on the
shared call.overflowed topic, so a missing topic never stalls the router's outbox. The router's
consumer subscribes to every `vendor.<id>.events` by pattern and sees a new one within ~10 s.
"""

from __future__ import annotations

from datetime import UTC, datetime

from frontdesk.common.clinics import project_clinic
from frontdesk.common.contracts import ClinicConfigured, TopicSpec, vendor_topics
from frontdesk.common.kafka import ensure_topics
from frontdesk.common.settings import ServiceSettings
from frontdesk.common.timer_payloads import VendorTopicsTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from .adapters import topics


def vendor_topic_specs(vendor_ids: list[str]) -> list[TopicSpec]:
    return [topic for v in vendor_ids for topic in vendor_topics(v)]


async def handle_clinic_configured(event: ClinicConfigured, uow: UnitOfWork) -> None:
    """The shared clinic projection, plus: make sure this clinic's vendors have their topics."""
    await project_clinic(event, uow)
    vendor_ids = [v.vendor_id for v in event.config.phone.effective_vendors()]
    if await topics.want_vendor_topics(uow.conn, vendor_ids):
        await uow.set_timer(f"vendor-topics:{event.clinic_id}", datetime.now(UTC), VendorTopicsTimer())


async def on_vendor_topics(timer: Timer[VendorTopicsTimer], uow: UnitOfWork) -> None:
    # `vendor_ids`: vendors whose topics predate vendor.<id>.events (migrations/010)
    missing = sorted({*await topics.vendors_without_topic(uow.conn), *timer.payload.vendor_ids})
    if not missing:
        return
    bootstrap = ServiceSettings.for_service("call-router").kafka_bootstrap_servers
    await ensure_topics(bootstrap, vendor_topic_specs(missing))  # raises -> the timer is retried
    await topics.vendor_topics_ready(uow.conn, missing)
