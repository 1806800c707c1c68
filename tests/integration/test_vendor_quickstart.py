"""docs/vendors.md, step by step, on the secure local broker (SASL/SCRAM-SHA-512 over TLS, ACLs).

The credentials come from `frontdesk kafka-env` as the page says; the page's Python blocks run as
written (in one namespace, in order) as the vendor `nightowl-answering`: it receives a call the
router hands over, answers it back on its own topic, and the router records the call as answered by
the vendor and ended, with no gap seen. The kcat commands run too where kcat is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from frontdesk.common.contracts import CallReceived, ClinicConfig
from frontdesk.testing.helpers import query, send_events, uid
from frontdesk.tools.apply import publish
from frontdesk.tools.cli import main as frontdesk
from frontdesk.tools.stack import LocalStack, repo_root

VENDOR = "nightowl-answering"
PAGE = repo_root() / "docs" / "vendors.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def secure() -> Iterator[LocalStack]:
    state_dir = Path(tempfile.mkdtemp(prefix="frontdesk-test-vendor-"))  # not under pytest's pruned basetemp
    stack = LocalStack.ephemeral(state_dir, secure=True, own_servers=True)
    try:
        stack.start_infrastructure()
        router = stack.service("call-router")
        router.start()
        yield stack
        router.stop()
    finally:
        stack.stop()
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def vendor_env(secure: LocalStack) -> dict[str, str]:
    """Step 1: `eval "$(frontdesk kafka-env vendor-nightowl-answering)"`."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = frontdesk(
            ["--state-dir", str(secure.state_dir), "--bootstrap", secure.bootstrap, "kafka-env", f"vendor-{VENDOR}"]
        )
    assert code == 0
    env = dict(shlex.split(line.removeprefix("export "))[0].split("=", 1) for line in out.getvalue().splitlines())
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["KAFKA_SASL_USERNAME"] == f"vendor-{VENDOR}"
    return {**env, "VENDOR_ID": VENDOR}


async def _closed_clinic_handing_over_to_the_vendor(secure: LocalStack) -> str:
    clinic_id = uid("vq")
    config = ClinicConfig.model_validate(
        {"clinic_id": clinic_id, "name": "Quickstart Clinic", "timezone": "UTC", "phone": {"answering_service": VENDOR}}
    )
    await publish(secure.bootstrap, [config], security=secure.security("frontdesk-operator"))
    deadline = time.monotonic() + 90
    while not await query(
        secure.database_url("call-router"), "SELECT 1 FROM vendor_topics WHERE vendor_id = $1 AND ready", VENDOR
    ):
        assert time.monotonic() < deadline, "the router never provisioned the vendor's topics"
        await asyncio.sleep(0.3)
    return clinic_id


async def _call_row(secure: LocalStack, call_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        rows = await query(secure.database_url("call-router"), "SELECT * FROM calls WHERE call_id = $1", call_id)
        if rows and rows[0]["status"] == status:
            return rows[0]
        assert time.monotonic() < deadline, f"call {call_id}: {rows}"
        await asyncio.sleep(0.2)


async def test_the_python_steps_receive_a_hand_over_and_answer_it(
    secure: LocalStack, vendor_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    clinic_id = await _closed_clinic_handing_over_to_the_vendor(secure)
    for name, value in vendor_env.items():
        monkeypatch.setenv(name, value)
    page: dict[str, Any] = {"__name__": "vendor_quickstart"}
    for block in _blocks("python"):  # steps 4, 5 and 6 as written
        exec(compile(block, str(PAGE), "exec"), page)  # the page's own code, on purpose
    call = CallReceived(call_id=uid("call"), clinic_id=clinic_id, received_at=datetime.now(UTC), caller_token="tok-q")
    await send_events(secure.bootstrap, [call], security=secure.security("phone-system"))
    try:
        handed_over = await asyncio.to_thread(page["next_hand_over"])
        assert (handed_over["call_id"], handed_over["vendor_id"]) == (call.call_id, VENDOR)
        await _call_row(secure, call.call_id, "with_vendor")
        await asyncio.to_thread(page["answer"], handed_over)
        row = await _call_row(secure, call.call_id, "ended")
        assert (row["answered_by_kind"], row["answered_by_id"]) == ("answering_service", VENDOR)
        assert page["gaps"] == []
    finally:
        page["consumer"].close()
        page["producer"].flush(10)


def _kcat(command: str, env: dict[str, str], timeout: float = 60) -> str:
    result = subprocess.run(
        ["bash", "-c", command],
        env={**os.environ, **env},
        cwd=repo_root(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed (Debian: apt-get install kcat)")
async def test_the_kcat_steps_report_and_read_back(secure: LocalStack, vendor_env: dict[str, str]) -> None:
    await _closed_clinic_handing_over_to_the_vendor(secure)
    newer_librdkafka, consume, heartbeat, _read_refused = [b for b in _blocks("sh") if "kcat" in b]
    version = _kcat(newer_librdkafka, vendor_env)  # step 3's preparation, run from the repository's root
    vendor_env = {**vendor_env, "LD_LIBRARY_PATH": str(repo_root() / ".local" / "rdkafka")}
    assert version.startswith("librdkafka 2.") and version.strip() != "librdkafka 2.0.2"
    _kcat(heartbeat, vendor_env)  # step 5 with kcat: a heartbeat on the vendor's own topic
    deadline = time.monotonic() + 60
    while not await query(
        secure.database_url("call-router"),
        "SELECT 1 FROM vendor_health WHERE vendor_id = $1 AND last_heartbeat_at IS NOT NULL",
        VENDOR,
    ):
        assert time.monotonic() < deadline, "the router never applied the heartbeat sent with kcat"
        await asyncio.sleep(0.3)
    # step 3 with kcat: the consumer group reads the hand-overs (-e: stop at the end of the topic)
    call = CallReceived(
        call_id=uid("call"),
        clinic_id=await _closed_clinic_handing_over_to_the_vendor(secure),
        received_at=datetime.now(UTC),
        caller_token="tok-k",
    )
    await send_events(secure.bootstrap, [call], security=secure.security("phone-system"))
    deadline = time.monotonic() + 60
    seen = ""
    while call.call_id not in seen:
        assert time.monotonic() < deadline, "kcat never read the hand-over"
        seen += _kcat(consume.strip() + " -e", vendor_env)
    assert "ce_type=call.overflowed" in seen
