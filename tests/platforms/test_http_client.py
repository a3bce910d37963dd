"""The providers' client on real sockets: its pool keeps its connections' sockets, still sees
a connection the provider closed while it sat idle, and still goes through a proxy the
environment names."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from app.platforms import http as provider_http
from app.settings import Settings

ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class Provider:
    """Answers each request on a keep-alive connection, then (when told to) hangs up once
    the answer is out, as a provider's load balancer does to idle connections."""

    def __init__(self) -> None:
        self.connections = 0
        self.hang_up = False

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(ANSWER)
                await writer.drain()
                if self.hang_up:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


@pytest.fixture
async def provider() -> AsyncIterator[tuple[Provider, str]]:
    stand_in = Provider()
    server = await asyncio.start_server(stand_in.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield stand_in, f"http://127.0.0.1:{port}"


async def test_the_pool_keeps_its_connections_sockets(provider: tuple[Provider, str]) -> None:
    stand_in, url = provider
    async with provider_http.build_http_client(Settings()) as http:
        transport = http._transport
        assert isinstance(transport, httpx.AsyncHTTPTransport)
        # Where httpx keeps its httpcore pool and the pool its backend: a new httpx or
        # httpcore that moves either fails here rather than quietly losing the wrapper.
        assert isinstance(transport._pool._network_backend, provider_http._SocketBackend)
        for _ in range(3):
            assert (await http.get(url)).status_code == 200
    assert stand_in.connections == 1  # kept alive and reused


async def test_a_connection_the_provider_closed_while_idle_is_not_reused(
    provider: tuple[Provider, str],
) -> None:
    stand_in, url = provider
    stand_in.hang_up = True
    async with provider_http.build_http_client(Settings()) as http:
        assert (await http.get(url)).status_code == 200
        await asyncio.sleep(0.2)  # the hang-up reaches the client's socket
        # Reusing the closed connection would fail ("server disconnected without sending a
        # response"); the pool sees the idle socket readable and opens a new one.
        assert (await http.get(url)).status_code == 200
    assert stand_in.connections == 2


async def test_a_proxy_from_the_environment_is_still_used(
    provider: tuple[Provider, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    stand_in, url = provider
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", url)  # the stand-in answers as the proxy would
    async with provider_http.build_http_client(Settings()) as http:
        # Unresolvable but through the proxy: answered.
        assert (await http.get("http://provider.invalid/v1/post")).status_code == 200
    assert stand_in.connections == 1
