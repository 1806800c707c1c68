"""A stand-in for an SMS provider's HTTP API, on loopback, for the send benchmarks.

POST any path: a message (followup's webhook channel: JSON body, `Idempotency-Key` header). It answers
200 with `{"id": ...}` after `--delay-ms` (a real provider's answer time), and delivers each key once:
a repeated key gets the first answer again and is counted as a repeat, never as a second delivery.
GET /stats: `{"requests": n, "delivered": n, "repeats": n}`. HTTP/1.1 with keep-alive, nothing else.

Run: `.venv/bin/python benchmarks/sms_provider.py --port 8099 [--delay-ms 100]`; it prints its port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal


class Provider:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.delivered: dict[str, str] = {}  # idempotency key -> provider message id
        self.requests = 0
        self.repeats = 0

    def stats(self) -> dict[str, int]:
        return {"requests": self.requests, "delivered": len(self.delivered), "repeats": self.repeats}

    async def answer(self, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
        if method == "GET" and path == "/stats":
            return 200, json.dumps(self.stats()).encode()
        if method != "POST":
            return 405, b'{"error": "method"}'
        self.requests += 1
        key = headers.get("idempotency-key", "")
        if not key:
            return 400, b'{"error": "no Idempotency-Key"}'
        if self.delay:
            await asyncio.sleep(self.delay)
        if key in self.delivered:
            self.repeats += 1
        else:
            self.delivered[key] = f"sim-{len(self.delivered) + 1}"
        return 200, json.dumps({"id": self.delivered[key]}).encode()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # CancelledError: the server closing at SIGTERM with a client still connected; nothing to report.
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
                await reader.readexactly(int(headers.get("content-length", "0")))
                status, body = await self.answer(method, path, headers)
                writer.write(
                    f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        writer.close()


async def main_async(port: int, delay_ms: float) -> None:
    provider = Provider(delay_ms / 1000)
    server = await asyncio.start_server(provider.serve, "127.0.0.1", port, backlog=512)
    print(server.sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=0, help="0: any free port (printed)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="how long each answer takes")
    args = parser.parse_args()
    asyncio.run(main_async(args.port, args.delay_ms))


if __name__ == "__main__":
    main()
