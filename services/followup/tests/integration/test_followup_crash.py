"""kill -9 around sending: the process dies after the provider accepted a message and before followup
recorded it. After the restart every request ends with exactly one delivery and one message.sent:
no duplicate (the provider saw the same idempotency key again) and no loss (the send timer was
still there)."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from frontdesk.testing.followup import phone_for, request
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.stack import LocalStack, ServiceProcess
from frontdesk.tools.tap import EventTap

from .test_followup_messaging import (
    WAIT,
    _network_token,  # noqa: F401 - a fixture: this module's API calls need a token
    day_clinic,
    of,
    register,
)

COUNT = 20


async def test_kill_9_between_sending_and_recording(
    stack: LocalStack, running: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    normal = running["followup"]
    clinic_id = await day_clinic(stack, normal)
    patients = [uid("pat") for _ in range(4)]
    for patient in patients:
        await register(normal, patient, phone_for(patient))
    # Restart followup with a channel that dies mid-send: the first send after the marker appears.
    marker = tmp_path / "crash-after-send"
    normal.stop()
    crashing = ServiceProcess(
        "followup",
        normal.state_dir,
        normal.http_port,
        {**normal.env, "CRASH_AFTER_SEND": str(marker)},
        argv=[sys.executable, str(Path(__file__).with_name("crashing_followup.py"))],
    )
    try:
        crashing.start()
        marker.touch()
        requests = [request(patients[i % len(patients)], clinic_id) for i in range(COUNT)]
        async with EventTap(stack.bootstrap, ["message.sent", "message.skipped"]) as tap:
            await send_events(stack.bootstrap, list(requests))
            deadline = time.monotonic() + WAIT
            while crashing.process.running():
                assert time.monotonic() < deadline, "the fault hook never fired"
                await asyncio.sleep(0.2)
            assert not marker.exists()  # the channel consumed it: it fired exactly once
            normal.start()  # same database, same consumer group, the ordinary channel
            for req in requests:
                await tap.wait_for(of(req.message_request_id), timeout=WAIT)
            await tap.settle(3)
    finally:
        if not normal.process.running():
            normal.start()
    ids = [r.message_request_id for r in requests]
    for request_id in ids:
        outcomes = {(e.type, e.id) for e in tap.matching(of(request_id))}
        # One distinct event (a redelivered copy would carry the same event id and is deduplicated).
        assert [t for t, _ in outcomes] == ["message.sent"], (request_id, outcomes)
    rows = await query(
        stack.database_url("followup"),
        "SELECT m.message_request_id, m.status,"
        " (SELECT count(*) FROM sink_calls c WHERE c.idempotency_key = m.idempotency_key) AS calls,"
        " (SELECT count(*) FROM sink_deliveries d WHERE d.idempotency_key = m.idempotency_key) AS delivered"
        " FROM messages m WHERE m.message_request_id = ANY($1::text[])",
        ids,
    )
    assert len(rows) == COUNT
    assert all(r["status"] == "sent" and r["delivered"] == 1 for r in rows), rows
    # The message in flight at the kill was handed to the provider twice and delivered once.
    assert sum(1 for r in rows if r["calls"] >= 2) >= 1, rows
