"""Crashes and restarts of a service over the real broker and database.

Proves: a service killed with SIGKILL mid-run and restarted loses nothing and books nothing twice;
SIGTERM shuts a service down gracefully (in-flight work committed, process exits 0).
"""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import UTC, datetime, timedelta

from frontdesk.common.contracts import AppointmentRequested
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap


def _requests(run: str, count: int, start: datetime) -> list[AppointmentRequested]:
    return [
        AppointmentRequested(
            request_id=f"req-{run}-{n}",
            patient_id=f"pat-{run}-{n}",
            clinic_id="test-always-open",
            provider_id=f"dr-test-{3 + n % 4}",
            appointment_type="checkup",
            # Distinct slots per provider: every request can be booked.
            starts_at=start + timedelta(minutes=30 * n),
            ends_at=start + timedelta(minutes=30 * n + 30),
        )
        for n in range(count)
    ]


async def test_sigkill_mid_run_loses_nothing_and_books_nothing_twice(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    scheduler = running["scheduler"]
    run = uid("kill")
    requests = _requests(run, 400, datetime(2031, 1, 6, 13, tzinfo=UTC))
    wanted = {r.request_id for r in requests}
    async with EventTap(stack.bootstrap, ["appointment.booked", "appointment.rejected"]) as tap:
        # Still sending when the kill lands: the scheduler keeps up with one sender, so a kill after
        # the last send would come too late. Offsets are committed in the background, so the restart
        # also redelivers records whose transactions had committed, which the inbox drops.
        sending = asyncio.create_task(send_events(stack.bootstrap, requests))
        # Let it get some way through, then pull the plug without warning.
        await tap.wait_for(lambda e: getattr(e.data, "request_id", None) in wanted, count=40, timeout=60)
        scheduler.kill()
        seen_at_kill = len(tap.matching(lambda e: getattr(e.data, "request_id", None) in wanted))
        await sending
        scheduler.start()
        await tap.wait_for(lambda e: getattr(e.data, "request_id", None) in wanted, count=len(wanted), timeout=120)
        await tap.settle(1.0)
    outcomes = tap.matching(lambda e: getattr(e.data, "request_id", None) in wanted)
    assert seen_at_kill < len(wanted), "the kill came too late to prove anything"
    assert {e.data.request_id for e in outcomes} == wanted  # type: ignore[attr-defined]
    assert all(e.type == "appointment.booked" for e in outcomes)
    # A crash between Kafka's ack and the outbox delete may republish an event, always with the same
    # event id, which consumers drop through their inbox. The bookings themselves exist once each.
    assert len({e.id for e in outcomes}) == len(wanted)
    rows = await query(
        stack.database_url("scheduler"),
        "SELECT request_id, count(*) AS n FROM appointments WHERE request_id = ANY($1) GROUP BY request_id",
        list(wanted),
    )
    assert len(rows) == len(wanted) and all(r["n"] == 1 for r in rows)


async def test_sigterm_finishes_in_flight_work_and_exits_cleanly(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    scheduler = running["scheduler"]
    run = uid("term")
    requests = _requests(run, 200, datetime(2032, 1, 6, 13, tzinfo=UTC))
    wanted = {r.request_id for r in requests}
    async with EventTap(stack.bootstrap, ["appointment.booked"]) as tap:
        await send_events(stack.bootstrap, requests)
        await tap.wait_for(lambda e: getattr(e.data, "request_id", None) in wanted, count=20, timeout=60)
        pid = scheduler.process.pid()
        assert pid is not None
        started = time.monotonic()
        scheduler.process.send_signal(signal.SIGTERM)
        while scheduler.process.running():
            assert time.monotonic() - started < 40, "SIGTERM did not stop the service"
            await asyncio.sleep(0.1)
        assert scheduler.process.log_file.read_text().rstrip().splitlines()[-1].find("Finished server process") > 0
        scheduler.start()
        await tap.wait_for(lambda e: getattr(e.data, "request_id", None) in wanted, count=len(wanted), timeout=120)
    rows = await query(
        stack.database_url("scheduler"),
        "SELECT count(*) AS n FROM appointments WHERE request_id = ANY($1)",
        list(wanted),
    )
    assert rows[0]["n"] == len(wanted)
