"""What a unit of work queues before its flush, without a database: the trace its events and timers
descend from, and the writes kept apart for a statement of the caller's."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

from frontdesk.common.cloudevents import TraceContext, decode
from frontdesk.common.contracts import ReviewRequested
from frontdesk.common.db import Connection
from frontdesk.common.timer_payloads import HoldExpiryTimer
from frontdesk.common.uow import UnitOfWork


def _review() -> ReviewRequested:
    return ReviewRequested(
        review_request_id="rr-1",
        visit_id="v-1",
        patient_id="pat-1",
        clinic_id="c-1",
        provider_id="dr-1",
        send_at=datetime(2030, 1, 1, tzinfo=UTC),
    )


def _traceparent_of(args: list[Any]) -> TraceContext:
    topics, headers, payloads = args[1], args[3], args[4]
    record_headers = [(name, value.encode()) for name, value in json.loads(headers[0])]
    return decode(topics[0], payloads[0], record_headers).trace


async def test_events_and_timers_descend_from_the_trace_the_work_has_when_they_are_queued() -> None:
    # A timer's unit of work begins under a placeholder trace and learns its own span once the timer
    # is claimed; what its handler then emits must descend from that span, not the placeholder.
    uow = UnitOfWork(cast(Connection, None), "tests/uow", TraceContext.new())
    work = TraceContext.new()
    uow.trace = work
    await uow.emit(_review())
    await uow.set_timer("t-1", datetime(2030, 1, 1, tzinfo=UTC), HoldExpiryTimer(appointment_id="apt-1"))
    pending = uow._writes()
    assert _traceparent_of(pending.outbox_args()).trace_id == work.trace_id
    assert pending.timer_args()[-1] == work.header()


async def test_writes_kept_apart_are_not_the_unit_of_work_s_own() -> None:
    uow = UnitOfWork(cast(Connection, None), "tests/uow", TraceContext.new())
    apart = uow.apart()
    await apart.emit(_review())
    assert apart.events and not uow._writes().events
    assert not uow.wrote_events
    uow.written(apart)
    assert uow.wrote_events


async def test_a_timer_is_written_under_its_payload_s_kind_with_the_payload_s_json() -> None:
    uow = UnitOfWork(cast(Connection, None), "tests/uow", TraceContext.new())
    due = datetime(2030, 1, 1, tzinfo=UTC)
    await uow.set_timer("hold:apt-1", due, HoldExpiryTimer(appointment_id="apt-1"))
    keys, kinds, due_ats, payloads, _ = uow._writes().timer_args()
    assert (keys, kinds, due_ats) == (["hold:apt-1"], ["hold_expiry"], [due])
    assert [json.loads(p) for p in payloads] == [{"appointment_id": "apt-1"}]
