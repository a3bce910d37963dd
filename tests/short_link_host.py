"""A local short-link host on a real port, for tests of short links that hang: a path whose
code starts with HANG is held open, answering nothing, until `release()` (then 503) or
`close()` (the connection is reset); any other code is redirected to the video the test
named for it (404 if none). A resolver reaches it as sandbox mode does (`via`, with the
link's host in the Host header). It counts the requests in flight, and their peak."""

import asyncio
from types import TracebackType

from tests.processes import free_port


class ShortLinkHost:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.redirects: dict[str, str] = {}  # code -> Location
        self.in_flight = 0
        self.peak = 0
        self.hanging = 0
        self.served: list[str] = []  # codes answered, in order
        self.delay_seconds = 0.0  # how long every answer that is not a hang takes
        self._released = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:  # keep-alive: one request after another on this connection
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                code = path.strip("/").rsplit("/", 1)[-1]
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
                try:
                    if code.startswith("HANG"):
                        self.hanging += 1
                        try:
                            await self._released.wait()
                        finally:
                            self.hanging -= 1
                        answer = b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n"
                    elif code in self.redirects:
                        await asyncio.sleep(self.delay_seconds)
                        location = self.redirects[code].encode()
                        answer = (
                            b"HTTP/1.1 301 Moved Permanently\r\nlocation: "
                            + location
                            + b"\r\ncontent-length: 0\r\n\r\n"
                        )
                    else:
                        answer = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"
                finally:
                    self.in_flight -= 1
                self.served.append(code)
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    def release(self) -> None:
        """Every hanging link answers 503 now, and later ones at once."""
        self._released.set()

    async def close(self) -> None:
        """The host goes away: every open connection is reset."""
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            self._server.close()

    async def __aenter__(self) -> "ShortLinkHost":
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        await self.close()


async def eventually(check: object, within: float = 10.0, what: str = "condition") -> None:
    """Waits until `check()` is true (polled every 20 ms), or fails naming `what`."""
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + within
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not reached within {within} s")
        await asyncio.sleep(0.02)
