"""`python -m bench.stand_in --port P --now ISO --tiktok N --instagram N --youtube N`: the
providers the paced benchmark fetches from, as a real server on a real socket that answers
every request exactly its latency after the request came, however many come at once.

The sandbox (`app.platforms.sandbox`) tells each video's story and misbehaves on demand; a
request costs it 0.4 ms of CPU on this machine alone, 0.75 beside the engine and PostgreSQL,
one request after another, so a TikTok batch's ten were answered a few ms apart however fast
the engine sent them, and that time counted as the engine's pacing overhead (issue 24 item
2: batches 619.5 ms apart against a 600 ms floor with the sandbox, 615.8 with this). A real
provider answers a batch's requests side by side. This one does its work as each request
comes (a lookup: the answers are the sandbox's real-shape bodies for ids 0..N-1, rendered
once by `bench.providers.build_pool` with the seeding's clock) and writes the answer from a
timer at arrival + latency.

It speaks as much of the sandbox's admin protocol as the benchmark uses: `POST
/__sandbox/faults {"latency_ms": N}`, `GET` and `DELETE /__sandbox/requests` (provider and
monotonic arrival time of each request, the machine's clock the engine shares)."""

import argparse
import asyncio
import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from app.domain.enums import Platform
from app.platforms.sandbox import answers
from bench.providers import TIKTOK_ID_BASE, build_pool

_TIKTOK_ID = re.compile(rb"video%2F(\d+)")
_SHORTCODE = re.compile(r"/p/Cx(\d+)")
_YOUTUBE_ID = re.compile(r"Yt(\d{8})A")
_REASONS = {200: b"OK", 204: b"No Content", 404: b"Not Found"}
Answer = tuple[str, int, bytes]  # provider ("" for the admin paths), status, JSON body


class Providers:
    """Every answer the paced benchmark asks for, by request."""

    def __init__(self, now: datetime, tiktok: int, instagram: int, youtube: int) -> None:
        self.tiktok = [s.body for s in build_pool(Platform.TIKTOK, tiktok, now)]
        self.instagram = [s.body for s in build_pool(Platform.INSTAGRAM, instagram, now)]
        # One item each; a videos.list answer lists the batch's.
        self.youtube = [json.loads(s.body) for s in build_pool(Platform.YOUTUBE, youtube, now)]
        self.latency_s = 0.0
        self.log: list[dict[str, Any]] = []

    def answer(self, method: str, target: str, body: bytes, arrived: float) -> Answer:
        url = urlsplit(target)
        if url.path.startswith("/__sandbox/"):
            return self._admin(method, url.path, body)
        found: Answer | None = None
        if url.path == "/api/" and (tiktok := _TIKTOK_ID.search(body)):
            found = ("tiktok_primary", 200, _slot(self.tiktok, int(tiktok[1]) - TIKTOK_ID_BASE))
        elif url.path == "/v1/instagram/post":
            code = _SHORTCODE.search(parse_qs(url.query).get("url", [""])[0])
            if code:
                found = ("instagram", 200, _slot(self.instagram, int(code[1])))
        elif url.path == "/youtube/v3/videos":
            ids = parse_qs(url.query).get("id", [""])[0]
            items = [_slot(self.youtube, int(m[1])) for m in _YOUTUBE_ID.finditer(ids)]
            found = ("youtube", 200, _dumps(answers.youtube_list([i for i in items if i])))
        if found is None or not found[2]:
            # Logged, so a seeding that outgrew the rendered answers shows in the figures.
            found = ("unknown", 404, b'{"message":"not found"}')
        self.log.append({"provider": found[0], "monotonic": arrived})
        return found

    def _admin(self, method: str, path: str, body: bytes) -> Answer:
        if path == "/__sandbox/faults" and method == "POST":
            self.latency_s = int(json.loads(body).get("latency_ms", 0)) / 1000
            return ("", 200, _dumps({"latency_ms": round(self.latency_s * 1000)}))
        if path == "/__sandbox/requests" and method == "GET":
            return ("", 200, _dumps({"requests": self.log}))
        if path == "/__sandbox/requests" and method == "DELETE":
            self.log.clear()
            return ("", 200, b"{}")
        return ("", 404, b'{"message":"not found"}')


def _slot(slots: list[Any], i: int) -> Any:
    return slots[i] if 0 <= i < len(slots) else None


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class Connection(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, each request answered from a timer at its arrival + the
    latency (admin paths at once), and never before an earlier request of the connection."""

    def __init__(self, providers: Providers) -> None:
        self._providers = providers
        self._loop = asyncio.get_running_loop()
        self._buffer = b""
        self._transport: asyncio.Transport | None = None
        self._last_send = 0.0  # loop time of the connection's latest answer

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def data_received(self, data: bytes) -> None:
        arrived = self._loop.time()  # time.monotonic(): the clock the engine's log keeps
        self._buffer += data
        while (head_end := self._buffer.find(b"\r\n\r\n")) >= 0:
            lines = self._buffer[:head_end].decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            end = head_end + 4 + length
            if len(self._buffer) < end:
                return  # the rest of the body is still on its way
            body, self._buffer = self._buffer[head_end + 4 : end], self._buffer[end:]
            provider, status, payload = self._providers.answer(method, target, body, arrived)
            response = b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\n" % (
                status,
                _REASONS.get(status, b"OK"),
            ) + b"content-length: %d\r\n\r\n%s" % (len(payload), payload)
            delay = self._providers.latency_s if provider else 0.0
            self._last_send = max(arrived + delay, self._last_send)
            self._loop.call_at(self._last_send, self._send, response)

    def _send(self, response: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(response)


async def serve(port: int, providers: Providers) -> None:
    loop = asyncio.get_running_loop()
    factory: Callable[[], Connection] = lambda: Connection(providers)  # noqa: E731
    server = await loop.create_server(factory, "127.0.0.1", port, reuse_address=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stand_in", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--now", type=datetime.fromisoformat, required=True)
    parser.add_argument("--tiktok", type=int, default=0)
    parser.add_argument("--instagram", type=int, default=0)
    parser.add_argument("--youtube", type=int, default=0)
    args = parser.parse_args()
    providers = Providers(args.now, args.tiktok, args.instagram, args.youtube)
    asyncio.run(serve(args.port, providers))


if __name__ == "__main__":
    main()
