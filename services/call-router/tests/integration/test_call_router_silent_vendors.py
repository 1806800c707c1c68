"""Vendors that stay silent, over the real broker and database, at the default ring budget (18 s).

Proves, from broker timestamps: an urgent call's on-call page reaches the provider through the
other vendor as soon as that vendor is offered the call (not at the next re-send) when the vendor
that had it is silent, and once a vendor answers, its later pages go through that vendor only (not
through the one told the call is withdrawn).
"""

from __future__ import annotations

from datetime import UTC, datetime

from frontdesk.common.contracts import CallReceived, OnCallPageRequested, vendor_calls_topic, vendor_events_topic
from frontdesk.testing.helpers import send_events, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_call_router_budget import BUDGET, _answer, _broker_seconds, _clinic, _on, _row, _since_received, _topics

RESEND = 15.0  # the on-call provider's page is re-sent this often until acknowledged


async def test_an_urgent_call_s_page_goes_through_whichever_vendor_has_the_call(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    # Equal 12 s targets: the primary has the call at once (urgent), the secondary too 6 s in.
    on_call = [{"provider_id": "dr-first", "resend_every_seconds": RESEND, "escalate_after_seconds": 600}]
    c = await _clinic(stack, router, open_=True, va={}, vb={}, on_call=on_call)
    call = CallReceived(
        call_id=uid("call"),
        clinic_id=c.clinic_id,
        received_at=datetime.now(UTC),
        caller_token=uid("t"),
        intent="urgent",
    )

    def page(vendor_id: str, resend: int) -> object:
        def match(e: object) -> bool:
            data = getattr(e, "data", None)
            return (
                getattr(e, "topic", None) == vendor_calls_topic(vendor_id)
                and isinstance(data, OnCallPageRequested)
                and data.call_id == call.call_id
                and data.resend == resend
            )

        return match

    async with EventTap(stack.bootstrap, _topics(c)) as tap:
        await send_events(stack.bootstrap, [call])
        [first_a] = await tap.wait_for(page(c.va, 0), timeout=60)
        # The primary stays silent: the secondary, offered the call 6 s in, delivers the page then.
        [to_b] = await tap.wait_for(_on(vendor_calls_topic(c.vb), call.call_id, "call.overflowed"), timeout=60)
        [first_b] = await tap.wait_for(page(c.vb, 0), timeout=60)
        b_paged_after = await _since_received(tap, call, first_b)
        # Then the primary answers after all: the secondary is withdrawn, and the re-send goes
        # through the primary, which has the caller, alone.
        await send_events(stack.bootstrap, [_answer(c, call, c.va)], topic=vendor_events_topic(c.va))
        await tap.wait_for(_on(vendor_calls_topic(c.vb), call.call_id, "call.withdrawn"), timeout=60)
        [resent] = await tap.wait_for(page(c.va, 1), timeout=60)
        await tap.settle(1.0)
    print(f"silent primary, urgent call: the secondary delivered the page {b_paged_after:.2f} s after arrival")
    assert first_b.data.page_id == first_a.data.page_id  # type: ignore[attr-defined]  # one page, two carriers
    assert first_b.data.vendor_id == c.vb  # type: ignore[attr-defined]
    assert b_paged_after < min(BUDGET, RESEND)  # not at the re-send
    assert _broker_seconds(tap, first_b) - _broker_seconds(tap, to_b) < 2.0
    assert resent.data.vendor_id == c.va  # type: ignore[attr-defined]
    assert tap.matching(page(c.vb, 1)) == []  # not through the vendor the call was withdrawn from
    await _row(stack, "SELECT 1 FROM call_pages WHERE call_id = $1 AND status = 'paging'", call.call_id)
