"""The call.received hot path (PL/pgSQL functions, migrations 007/008) keeps the edge cases.

Proves, over the real broker and database: an answer that overtakes its call is applied when the
call arrives and nobody is rung; an end that overtakes its answer is applied with the answer
(migration 012), which also cancels the vendor's answer deadline; the same call_id under another
event id is routed once. (A call for a clinic the router does not know: test_call_router_fallback.py.)
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from frontdesk.common.cloudevents import Envelope
from frontdesk.common.contracts import CallAnswered, CallEnded, Event
from frontdesk.testing.helpers import query, send_events
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_call_router_lifecycle import _call, _clinic


def _routed(call_id: str) -> Any:
    def match(e: Envelope[Event]) -> bool:
        return e.type == "call.routed" and getattr(e.data, "call_id", None) == call_id

    return match


async def _row(url: str, sql: str, *args: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while not (rows := await query(url, sql, *args)):
        assert time.monotonic() < deadline, sql
        await asyncio.sleep(0.2)
    return rows[0]


async def test_an_answer_that_overtakes_its_call_is_applied_and_nobody_rings(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    url = stack.database_url("call-router")
    clinic_id = await _clinic(stack, router, open_=False)
    call = _call(clinic_id)
    answered = CallAnswered(
        call_id=call.call_id,
        clinic_id=clinic_id,
        answered_at=datetime.now(UTC),
        answered_by_kind="answering_service",
        answered_by_id=f"{clinic_id}-va",
    )
    await send_events(stack.bootstrap, [answered])
    await _row(url, "SELECT 1 FROM early_outcomes WHERE call_id = $1", call.call_id)
    await send_events(stack.bootstrap, [call])
    row = await _row(url, "SELECT * FROM calls WHERE call_id = $1 AND status = 'answered'", call.call_id)
    assert (row["attempt"], row["target_kind"], row["answered_by_kind"]) == (0, "", "answering_service")
    assert await query(url, "SELECT 1 FROM early_outcomes WHERE call_id = $1", call.call_id) == []


async def test_the_same_call_under_another_event_id_is_routed_once(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    clinic_id = await _clinic(stack, router, open_=False)  # closed: straight to the vendor
    call = _call(clinic_id)
    marker = _call(clinic_id)
    async with EventTap(stack.bootstrap, ["call.routed"]) as tap:
        # same topic and key: the router handles them in this order
        await send_events(stack.bootstrap, [call, call.model_copy(), marker])
        await tap.wait_for(_routed(marker.call_id), timeout=60)
        await tap.wait_for(_routed(call.call_id), timeout=60)
    assert len({e.id for e in tap.matching(_routed(call.call_id))}) == 1
    [row] = await query(stack.database_url("call-router"), "SELECT * FROM calls WHERE call_id = $1", call.call_id)
    assert (row["attempt"], row["status"]) == (1, "with_vendor")


async def test_an_end_that_overtakes_its_answer_is_applied_with_the_answer(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    router = running["call-router"]
    url = stack.database_url("call-router")
    clinic_id = await _clinic(stack, router, open_=False)  # closed: straight to the vendor
    # all in the past (the router counts no instant from after it heard it), well within the budget
    answered_at = datetime.now(UTC) - timedelta(seconds=4)
    call = _call(clinic_id).model_copy(update={"received_at": answered_at - timedelta(seconds=1)})
    async with EventTap(stack.bootstrap, ["call.routed"]) as tap:
        await send_events(stack.bootstrap, [call])
        await tap.wait_for(_routed(call.call_id), timeout=60)
    ended = CallEnded(call_id=call.call_id, clinic_id=clinic_id, ended_at=answered_at + timedelta(seconds=3))
    await send_events(stack.bootstrap, [ended])  # the phone system's end, before its answer
    await _row(url, "SELECT 1 FROM early_outcomes WHERE call_id = $1 AND event_type = 'call.ended'", call.call_id)
    answered = CallAnswered(
        call_id=call.call_id,
        clinic_id=clinic_id,
        answered_at=answered_at,
        answered_by_kind="answering_service",
        answered_by_id=f"{clinic_id}-va",
    )
    await send_events(stack.bootstrap, [answered])
    row = await _row(url, "SELECT * FROM calls WHERE call_id = $1 AND status = 'ended'", call.call_id)
    assert (row["answered_by_id"], row["answered_at"], row["ended_at"]) == (
        f"{clinic_id}-va",
        answered_at,
        ended.ended_at,
    )
    assert await query(url, "SELECT 1 FROM early_outcomes WHERE call_id = $1", call.call_id) == []
    assert await query(url, "SELECT 1 FROM timers WHERE timer_key LIKE $1", f"vendor:{call.call_id}:%") == []
