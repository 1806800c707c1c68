"""The HTTP edge of every service, against the running stack (issue 16, items 1, 5, 6, 7, 10).

followup refuses to start outside the local stack without its provider and secrets; request bodies
are capped before they are read (declared or chunked), and a service receiving 50 MB does not grow;
rate limits key on the patient's link and on the client address a configured number of trusted
proxies saw; operations endpoints live on their own port; a webhook with a non-ASCII or forged
signature gets 401, every time; a JSON body with a lone surrogate escape gets 400 (it was a 500).
"""

from __future__ import annotations

import asyncio
import collections
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path

import httpx

from frontdesk.common.jsonbodies import LONE_SURROGATE
from frontdesk.testing.authz import replica_with_limits
from frontdesk.tools.stack import LocalStack, ServiceProcess

BIG = 50 * 1024 * 1024
PIECE = b"9" * 65536
# A route of each kind on each service: JSON API, HL7, provider webhook, the patient's feedback page.
BODY_ROUTES = {
    "call-router": "/v1/clinics/test-always-open/staffing/forecasts",
    "scheduler": "/v1/hl7/test-always-open",
    "followup": "/v1/webhooks/sms",
    "reviews": "/v1/feedback/not-a-real-token",
}
OPERATIONS = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/asyncapi.json")


def memory_kib(proc: ServiceProcess) -> dict[str, int]:
    """The process's resident set now and at its peak (VmRSS, VmHWM), in KiB."""
    status = Path(f"/proc/{proc.process.pid()}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


async def post_big(proc: ServiceProcess, path: str, total: int, chunked: bool) -> tuple[int, int]:
    """POST `total` bytes over a raw socket (a declared Content-Length, or chunked without one),
    stopping as soon as the server answers. (status, bytes of body sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", proc.http_port)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Authorization: {proc.auth_headers['Authorization']}\r\n{framing}\r\n\r\n"
    )
    writer.write(head.encode())
    answer = asyncio.ensure_future(reader.read(65536))
    sent = 0
    try:
        while sent < total and not answer.done():
            writer.write(b"%x\r\n%s\r\n" % (len(PIECE), PIECE) if chunked else PIECE)
            await writer.drain()
            await asyncio.sleep(0)  # let the answer in as soon as it comes
            sent += len(PIECE)
        if chunked and not answer.done():
            writer.write(b"0\r\n\r\n")
    except OSError:
        pass  # the server answered and closed while we were still sending: what we want
    raw = await asyncio.wait_for(answer, 60)
    writer.close()  # (the server reads and discards what we sent for a few seconds, then closes)
    return int(raw.split(b" ", 2)[1]), sent


async def test_issue16_item5_every_service_caps_bodies_before_reading_them(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    report = []
    for name, path in BODY_ROUTES.items():
        proc = running[name]
        for chunked in (False, True):
            before = memory_kib(proc)
            status, sent = await post_big(proc, path, BIG, chunked)
            after = memory_kib(proc)
            growth = {k: after[k] - before[k] for k in before}
            report.append(f"{name} {path} chunked={chunked}: {status}, sent {sent >> 10} KiB, growth {growth} KiB")
            assert status == 413, report[-1]
            assert sent < BIG // 4, report[-1]  # refused long before the end
            assert growth["VmHWM"] < 8 * 1024, report[-1]  # no growth (a read body would be 50 MB)
    # The baseline, measured the same way: a replica whose cap is above 50 MB reads the body whole.
    uncapped = stack.replica("followup", 8)
    uncapped.env["FRONTDESK_MAX_REQUEST_BYTES"] = str(2 * BIG)
    uncapped.start()
    try:
        before = memory_kib(uncapped)
        status, sent = await post_big(uncapped, BODY_ROUTES["followup"], BIG, chunked=False)
        growth = {k: memory_kib(uncapped)[k] - before[k] for k in before}
    finally:
        uncapped.stop()
    report.append(f"baseline, cap above 50 MB, followup webhook: {status}, sent {sent >> 10} KiB, growth {growth} KiB")
    print("\n" + "\n".join(report))  # the measurement (run with -s to see it)
    assert status == 401 and growth["VmHWM"] > 25 * 1024  # the method sees a body read whole
    # The answer says what is wrong, and a body under the cap is still served normally.
    async with running["followup"].client(timeout=10) as client:
        refused = await client.post(BODY_ROUTES["followup"], content=b"x" * (1024 * 1024 + 1))
        assert refused.status_code == 413
        assert refused.json() == {"detail": "request body too large: at most 1048576 bytes"}
        small = await client.post(BODY_ROUTES["followup"], content=b"{}")
        assert small.status_code == 401  # unsigned: refused for that, not for its size


async def test_issue16_item7_operations_endpoints_are_only_on_the_ops_port(
    running: dict[str, ServiceProcess],
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        for proc in running.values():
            for path in OPERATIONS:
                public = await client.get(proc.url + path)
                assert public.status_code == 404, (proc.name, path, public.status_code)
                ops = await client.get(proc.ops_url + path)
                assert ops.status_code == 200, (proc.name, path, ops.status_code)
            document = (await client.get(proc.ops_url + "/openapi.json")).json()
            assert "/v1/clinics" in document["paths"]
            assert not set(OPERATIONS) & set(document["paths"]), proc.name  # the public API only
            # ... and the ops port serves no API: no patient data there, token or not.
            assert (await client.get(proc.ops_url + "/v1/clinics", headers=proc.auth_headers)).status_code == 404


def signed_headers(signature: bytes | str, timestamp: bytes | str | None = None) -> dict[str, bytes | str]:
    return {
        "Content-Type": "application/json",
        "X-Frontdesk-Timestamp": timestamp if timestamp is not None else str(int(time.time())),
        "X-Frontdesk-Signature": signature,
    }


async def test_issue16_item10_a_non_ascii_webhook_signature_is_a_401(running: dict[str, ServiceProcess]) -> None:
    body = json.dumps({"from": "+15555550100", "text": "STOP"}).encode()
    async with httpx.AsyncClient(base_url=running["followup"].url, timeout=10) as client:
        for path in ("/v1/webhooks/sms", "/v1/webhooks/receipts"):
            for headers in (
                signed_headers("é".encode() * 32),
                signed_headers(b"\xff" * 64),
                signed_headers("0" * 64, timestamp="\u0661\u0667".encode() * 5),
                signed_headers("0" * 64, timestamp="9" * 5000),
            ):
                response = await client.post(path, content=body, headers=headers)  # type: ignore[arg-type]
                assert response.status_code == 401, (path, response.status_code, response.text)
                assert isinstance(response.json()["detail"], str)


async def test_issue16_forged_webhooks_get_401_every_time(running: dict[str, ServiceProcess]) -> None:
    """Measured: 1000 forged inbound SMS (fresh timestamp, random signature), 20 at a time."""
    body = json.dumps({"from": "+15555550100", "text": "2"}).encode()
    answers: collections.Counter[int] = collections.Counter()
    gate = asyncio.Semaphore(20)
    async with httpx.AsyncClient(base_url=running["followup"].url, timeout=30) as client:

        async def forge() -> None:
            async with gate:
                headers = signed_headers(secrets.token_hex(32))
                answers[(await client.post("/v1/webhooks/sms", content=body, headers=headers)).status_code] += 1  # type: ignore[arg-type]

        started = time.monotonic()
        await asyncio.gather(*(forge() for _ in range(1000)))
        elapsed = time.monotonic() - started
    print(f"\nforged webhooks: {dict(answers)} in {elapsed:.1f} s")
    assert answers == {401: 1000}


def _code() -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    return "".join(secrets.choice(alphabet) for _ in range(9))


async def test_issue16_item6_a_short_links_budget_is_its_own_whatever_the_forwarded_address(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    """No trusted proxy (the default): X-Forwarded-For is the client's own text and changes nothing;
    one link's flood uses up that link's budget, not everyone's."""
    with replica_with_limits(stack, "followup", {"short-links": 3, "short-link-clients": 10_000}) as followup:
        flooded, other = _code(), _code()
        async with httpx.AsyncClient(base_url=followup.url, timeout=10) as client:
            statuses = [
                (await client.get(f"/l/{flooded}", headers={"X-Forwarded-For": f"198.51.100.{i}"})).status_code
                for i in range(4)
            ]
            assert statuses == [404, 404, 404, 429]
            assert (await client.get(f"/l/{other}")).status_code == 404  # another patient's link still works


async def test_issue16_item6_the_client_address_is_the_one_the_trusted_proxy_saw(
    stack: LocalStack, running: dict[str, ServiceProcess]
) -> None:
    followup = stack.replica("followup", 9)
    followup.env["FRONTDESK_RATE_LIMITS"] = json.dumps({"short-links": 10_000, "short-link-clients": 3})
    followup.env["FRONTDESK_TRUSTED_PROXY_HOPS"] = "1"  # one ingress, which appends the peer it saw
    followup.start()
    try:
        one, two = (f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{n}" for n in (1, 2))
        async with httpx.AsyncClient(base_url=followup.url, timeout=10) as client:

            async def visit(forwarded: str) -> int:
                return (await client.get(f"/l/{_code()}", headers={"X-Forwarded-For": forwarded})).status_code

            assert [await visit(one) for _ in range(3)] == [404] * 3
            # Whatever the client writes in front of what the ingress appended does not give a new budget.
            assert await visit(f"203.0.113.{secrets.randbelow(250)}, {one}") == 429
            assert await visit(two) == 404  # another patient behind the same ingress
    finally:
        followup.stop()


def test_issue16_item1_followup_refuses_to_start_outside_the_local_stack(running: dict[str, ServiceProcess]) -> None:
    env = {
        k: v for k, v in running["followup"].env.items() if not k.startswith(("FOLLOWUP_WEBHOOK", "FOLLOWUP_PROVIDER"))
    }
    env["KAFKA_BOOTSTRAP_SERVERS"] = "frontdesk-kafka-bootstrap:9093"
    env["FOLLOWUP_DATABASE_URL"] = "postgresql://followup@db.internal:5432/followup"
    started = subprocess.run(
        [sys.executable, "-m", "frontdesk.followup"], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert started.returncode != 0
    output = started.stdout + started.stderr
    for setting in ("FOLLOWUP_WEBHOOK_SECRETS", "FOLLOWUP_PROVIDER_SIGNING_SECRETS", "FOLLOWUP_PROVIDER_URL"):
        assert setting in output, output[-2000:]


# One JSON route of each service, and where its body says something a route stores, hashes, checks
# against the token or echoes in a 422: a string that is half a UTF-16 pair, which JSON allows and no
# UTF-8 encoder takes.
LONE = "\\ud800"
JSON = {"content-type": "application/json"}
SURROGATE_BODIES = {
    "call-router": ("PUT", "/v1/clinics/test-always-open/callers/tok-1", f'{{"phone_number": "{LONE}"}}'),
    "scheduler": ("PUT", "/v1/patients/pat-surrogate", f'{{"display_name": "Ana {LONE}"}}'),
    "followup": ("PUT", "/v1/patients/pat-surrogate/contact", f'{{"phone": "{LONE}"}}'),
    "reviews": ("POST", "/v1/recovery-tasks/task-surrogate/notes", f'{{"note": "{LONE}"}}'),
    "phone-bridge": ("POST", "/v1/sip/route", f'{{"sip_call_id": "{LONE}", "dialled": "100", "caller": "x"}}'),
}


async def test_a_json_body_with_a_lone_surrogate_is_a_400_on_every_service(
    running: dict[str, ServiceProcess],
) -> None:
    answers = {}
    for name, (method, path, body) in SURROGATE_BODIES.items():
        async with running[name].client(timeout=30) as client:
            answer = await client.request(method, path, content=body, headers=JSON)
        is_json = answer.headers.get("content-type") == "application/json"
        answers[name] = (answer.status_code, answer.json()["detail"] if is_json else answer.text[:100])
    assert answers == {name: (400, LONE_SURROGATE) for name in SURROGATE_BODIES}, answers
    # a pair of escapes is one character (an emoji), not refused for it
    async with running["scheduler"].client(timeout=30) as client:
        fine = await client.put(
            "/v1/patients/pat-surrogate", content='{"display_name": "Ana \\ud83d\\ude00"}', headers=JSON
        )
    assert fine.status_code < 500 and fine.status_code != 400, fine.text
