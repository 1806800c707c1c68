"""On-call paging until acknowledged, for urgent vendor messages and urgent calls alike.

- Start: `oncall.page_requested` for the roster's first provider, on the shared topic and on the
  vendor's own topic `vendor.<id>.calls` (the vendor delivers pages): the vendor that took the
  message; for an urgent call, the vendor that answered it, else every vendor it was handed to
  (lifecycle.page_carriers). A vendor handed the call while it is paged (hedge, failover) is sent
  the latest page at once.
- A durable timer per page (`oncall_page`) sends the next one from the pure schedule
  (domain/vendor_messages.py `next_page`: re-send, escalate along the roster, the last step re-sends
  for ever), computed from when paging started, so a late timer neither skips nor repeats a page.
- `answering.page_acknowledged` naming the message or the call stops it: the pending timer is
  cancelled, who acknowledged and when are recorded, and the time from the first page is observed
  (`frontdesk_oncall_acknowledged_seconds`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from frontdesk.common.clinics import get_clinic
from frontdesk.common.contracts import ClinicConfig, OnCallPageRequested, vendor_calls_topic
from frontdesk.common.logging import get_logger
from frontdesk.common.timer_payloads import OncallPageTimer
from frontdesk.common.timers import Timer
from frontdesk.common.uow import UnitOfWork

from . import telemetry
from .adapters import messages, pages, repository, topics
from .domain import lifecycle
from .domain.service_levels import happened_at
from .domain.vendor_messages import Page, next_page, sent_page

log = get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Paged:
    """What a page is for: an urgent vendor message or an urgent call (exactly one)."""

    message_id: str | None = None
    call_id: str | None = None

    @classmethod
    def of(cls, payload: OncallPageTimer) -> Paged:
        return cls(payload.message_id, payload.call_id)

    @property
    def subject(self) -> str:
        return "message" if self.message_id is not None else "call"

    def ids(self) -> dict[str, str]:
        return {"message_id": self.message_id} if self.message_id is not None else {"call_id": str(self.call_id)}

    def page_id(self, page: Page) -> str:
        prefix = self.message_id if self.message_id is not None else f"call:{self.call_id}"
        return f"{prefix}:{page.step}:{page.resend}"

    def timer_key(self, n: int) -> str:
        # A new key per page: the worker deletes the firing timer's row when its handler returns.
        return f"page:{self.message_id}:{n}" if self.message_id is not None else f"call-page:{self.call_id}:{n}"

    async def row(self, uow: UnitOfWork, *, for_update: bool = False) -> dict[str, Any] | None:
        if self.message_id is not None:
            return await messages.get_message(uow.conn, self.message_id, for_update=for_update)
        return await pages.get(uow.conn, str(self.call_id), for_update=for_update)

    async def requested(self, uow: UnitOfWork, page_id: str, timer_key: str | None) -> None:
        if self.message_id is not None:
            await messages.page_requested(uow.conn, self.message_id, page_id, timer_key)
        else:
            await pages.page_requested(uow.conn, str(self.call_id), page_id, timer_key)

    async def stopped(self, uow: UnitOfWork) -> None:
        if self.message_id is not None:
            await messages.paging_stopped(uow.conn, self.message_id)
        else:
            await pages.stop(uow.conn, str(self.call_id))


async def start_call(uow: UnitOfWork, clinic: ClinicConfig, call_id: str, now: datetime) -> None:
    """An urgent call was handed to the answering service: page the clinic's roster until
    acknowledged (a clinic without a roster has nobody to page)."""
    roster = clinic.phone.on_call
    if roster and await pages.start(uow.conn, call_id, clinic.clinic_id, now):
        carriers = await _call_carriers(uow, call_id)
        await send(uow, clinic, Paged(call_id=call_id), carriers, Page(now, roster[0].provider_id, 0, 0), now)


async def hand_over(uow: UnitOfWork, clinic: ClinicConfig, call_id: str, vendor_id: str) -> None:
    """An urgent call being paged was handed to one more vendor (hedge, failover): that vendor
    delivers the latest page too (same page id), at once, rather than at the next re-send: the
    vendor that had it may be the silent one."""
    row = await pages.get(uow.conn, call_id)
    if row is None or row["status"] != "paging" or row["last_page_id"] is None:
        return
    paged = Paged(call_id=call_id)
    page = sent_page(clinic.phone.on_call, row["paging_started_at"], _now(), paged.page_id, row["last_page_id"])
    if page is not None and await topics.vendor_topic_ready(uow.conn, vendor_id):
        await uow.emit(_requested(clinic, paged, vendor_id, page), topic=vendor_calls_topic(vendor_id))


async def _call_carriers(uow: UnitOfWork, call_id: str) -> tuple[str, ...]:
    call = await repository.get_call(uow.conn, call_id)
    assert call is not None
    return lifecycle.page_carriers(lifecycle.from_row(call))


def _requested(clinic: ClinicConfig, paged: Paged, vendor_id: str, page: Page) -> OnCallPageRequested:
    return OnCallPageRequested(
        page_id=paged.page_id(page),
        **paged.ids(),
        clinic_id=clinic.clinic_id,
        vendor_id=vendor_id,
        provider_id=page.provider_id,
        channel=clinic.phone.on_call[page.step].channel,
        step=page.step,
        resend=page.resend,
        escalated=page.step > 0 and page.resend == 0,
        requested_at=_now(),
    )


async def send(
    uow: UnitOfWork, clinic: ClinicConfig, paged: Paged, vendor_ids: Sequence[str], page: Page, started_at: datetime
) -> None:
    """Request `page` (delivered by each of `vendor_ids`), then set the timer for the next one
    (re-send or escalation)."""
    roster = clinic.phone.on_call
    requested = _requested(clinic, paged, vendor_ids[0], page)
    await uow.emit(requested)
    for vendor_id in vendor_ids:  # the vendors deliver the page
        if await topics.vendor_topic_ready(uow.conn, vendor_id):
            copy = requested.model_copy(update={"vendor_id": vendor_id})
            await uow.emit(copy, topic=vendor_calls_topic(vendor_id))
    telemetry.PAGES.labels(clinic.clinic_id, str(requested.escalated).lower()).inc()
    following = next_page(roster, started_at, page.at)
    key = None
    if following is not None:
        row = await paged.row(uow)
        assert row is not None
        key = paged.timer_key(row["pages_requested"] + 1)
        payload = OncallPageTimer(
            clinic_id=clinic.clinic_id, message_id=paged.message_id, call_id=paged.call_id, at=following.at
        )
        await uow.set_timer(key, following.at, payload)
    await paged.requested(uow, requested.page_id, key)


async def on_page_due(timer: Timer[OncallPageTimer], uow: UnitOfWork) -> None:
    """The next page of an unacknowledged urgent message or call is due: re-send or escalate."""
    clinic_id, paged = timer.payload.clinic_id, Paged.of(timer.payload)
    await repository.lock_clinic(uow.conn, clinic_id)
    row = await paged.row(uow, for_update=True)
    if row is None or row["status"] != "paging" or row["page_timer_key"] != timer.key:
        return  # acknowledged (or superseded) meanwhile
    clinic = await get_clinic(uow.conn, clinic_id)
    if clinic is None or not clinic.phone.on_call:
        log.warning("on-call roster emptied while paging; paging stops", clinic_id=clinic_id, subject=paged.subject)
        await paged.stopped(uow)
        return
    if paged.message_id is not None:
        carriers: tuple[str, ...] = (row["vendor_id"],)
    else:  # the vendors that have the call now (hedged, failed over, or the one that answered)
        carriers = await _call_carriers(uow, str(paged.call_id))
    at = timer.payload.at
    page = next_page(clinic.phone.on_call, row["paging_started_at"], at - timedelta(microseconds=1))
    assert page is not None  # the last step re-sends for ever
    await send(uow, clinic, paged, carriers, page, row["paging_started_at"])


async def acknowledged(uow: UnitOfWork, paged: Paged, row: dict[str, Any], provider_id: str, at: datetime) -> None:
    """Stop paging (the row is locked and still `paging`): cancel the next page, record who and when
    (the vendor's `at`, bounded as any outcome's: service_levels.happened_at)."""
    at = happened_at(at, datetime.now(UTC), row["paging_started_at"])
    if row["page_timer_key"]:
        await uow.cancel_timer(row["page_timer_key"])
    if paged.message_id is not None:
        await messages.acknowledge(uow.conn, paged.message_id, provider_id, at)
    else:
        await pages.acknowledge(uow.conn, str(paged.call_id), provider_id, at)
    took = (at - row["paging_started_at"]).total_seconds()
    telemetry.PAGE_ACKNOWLEDGED.labels(paged.subject).observe(took)
    log.info("page acknowledged", subject=paged.subject, pages=row["pages_requested"], seconds=took)
