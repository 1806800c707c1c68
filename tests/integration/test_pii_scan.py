"""No personal data on the bus or in the logs (issue 8), checked on everything the test session produced.

This module runs after every other integration test but the API fuzzing (frontdesk.testing.plugin orders
it; the fuzzer's random strings may look like phone numbers by chance and are not scanned). It
reads EVERY record of every registry topic and of every vendor's own topics, dead-letter topics
included, from the beginning and
outside any consumer group, and every line of every service log under the stack's state dir, and
fails listing each phone number, email, person name or personal-data key found outside
`frontdesk.common.pii.PERSONAL_DATA_ALLOWLIST`.

One exclusion, precise and documented in `frontdesk.common.pii.injected_poison`: records that a
test injected and a service dead-lettered (malformed on purpose, some with phone-like strings, to
prove that the DLQ reason does not echo them) are the test's input, not the system's output. Their
copies are skipped, but the `dlq_*` headers our consumer wrote on them are still scanned. A record
with one of our services' CloudEvents sources is never excluded.
"""

from __future__ import annotations

import time
from pathlib import Path

from aiokafka import ConsumerRecord

from frontdesk.common.contracts.phone import VENDOR_TOPIC_PREFIX
from frontdesk.common.contracts.registry import all_topics
from frontdesk.common.kafka import make_admin, make_reader, topic_partitions
from frontdesk.common.pii import census_names, scan_log, scan_records
from frontdesk.tools.stack import SERVICES, LocalStack, ServiceProcess

# Logs of the broker and the database server are theirs, not our code's; every other log file in
# logs/ (the four services, and any process a test started there) is scanned.
INFRASTRUCTURE_LOGS = {"kafka.log", "postgres.log"}


async def read_everything(stack: LocalStack, timeout: float = 120) -> list[ConsumerRecord[bytes, bytes]]:
    """Every record of every registry topic and every vendor's own topics (vendor.<id>.calls/.events and
    their dead-letter twins), from offset 0 to the end offsets seen on opening."""
    admin = make_admin(stack.bootstrap, "frontdesk-pii-scan", stack.security())
    await admin.start()
    try:
        vendor_topics = [t for t in await admin.list_topics() if t.startswith(VENDOR_TOPIC_PREFIX)]
    finally:
        await admin.close()
    topics = [t.name for t in all_topics()] + vendor_topics
    partitions = await topic_partitions(stack.bootstrap, topics, stack.security())
    consumer = make_reader(stack.bootstrap, "frontdesk-pii-scan", stack.security())
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        records: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + timeout
        while pending := [tp for tp, end in ends.items() if await consumer.position(tp) < end]:
            assert time.monotonic() < deadline, f"could not read to the end of {pending}"
            for tp, batch in (await consumer.getmany(timeout_ms=500)).items():
                records += [r for r in batch if r.offset < ends[tp]]
        return records
    finally:
        await consumer.stop()


async def test_no_personal_data_on_the_bus_or_in_the_logs(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    names = census_names()
    records = await read_everything(stack)
    assert records, "the session produced no records: nothing was scanned"
    findings = scan_records(records, names, service_sources={f"frontdesk/{s}" for s in SERVICES})

    logs = sorted(p for p in (stack.state_dir / "logs").glob("*.log") if p.name not in INFRASTRUCTURE_LOGS)
    assert {p.stem for p in logs} >= set(SERVICES), f"missing service logs: {[p.name for p in logs]}"
    for log in logs:
        findings += scan_log(str(Path("logs") / log.name), log.read_text(errors="replace").splitlines(), names)

    report = "\n".join(str(f) for f in findings[:200])
    assert not findings, f"{len(findings)} personal-data finding(s) outside the allowlist:\n{report}"
