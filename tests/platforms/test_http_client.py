"""The providers' client on real sockets (aiohttp under httpx): it keeps connections alive,
still sees a connection the provider closed while it sat idle, keeps no cookie, goes through
a proxy the environment names, and fails as httpx's errors, which `send` makes FetchErrors."""

import asyncio
import gzip
from collections.abc import AsyncIterator

import httpx
import pytest

from app.platforms import http as provider_http
from app.settings import Settings

ANSWER = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nset-cookie: session=abc; Path=/\r\n"
    b"content-length: 2\r\n\r\n{}"
)


class Provider:
    """Answers each request on a keep-alive connection, then (when told to) hangs up once
    the answer is out, as a provider's load balancer does to idle connections."""

    def __init__(self) -> None:
        self.connections = 0
        self.hang_up = False
        self.answer = ANSWER
        self.heads: list[bytes] = []  # each request's line and headers, as they came
        self.answers_left: int | None = None  # then it reads a request and hangs up

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                self.heads.append(head)
                if self.answers_left is not None:
                    if self.answers_left == 0:
                        break
                    self.answers_left -= 1
                writer.write(self.answer)
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
        # A name, not an address: clients keep no cookies for bare IP addresses.
        yield stand_in, f"http://localhost:{port}"


async def test_connections_are_kept_alive_and_no_cookie_is_kept(
    provider: tuple[Provider, str],
) -> None:
    stand_in, url = provider
    async with provider_http.build_http_client(Settings()) as http:
        endpoint = provider_http.Endpoint(http, url)  # as the providers ask
        for _ in range(3):
            answer = await http.send(endpoint.get("id=1"))
            assert (answer.status_code, answer.json()) == (200, {})
        assert (await http.get(url)).status_code == 200  # nor asked by the client's own way
        assert not http.cookies
    assert stand_in.connections == 1  # kept alive and reused
    # Asked the same way every time, whatever the provider set before, with the client's
    # headers and none of aiohttp's own.
    assert all(b"cookie" not in head.lower() for head in stand_in.heads)
    first = stand_in.heads[0].lower()
    assert first.startswith(b"get /?id=1 http/1.1\r\n")
    assert f"user-agent: {provider_http.USER_AGENT}".lower().encode() in first
    assert b"aiohttp" not in first


async def test_a_compressed_answer_is_read_as_sent(provider: tuple[Provider, str]) -> None:
    stand_in, url = provider
    body = gzip.compress(b'{"views": 1234}')
    stand_in.answer = (
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\n"
        b"transfer-encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    )
    async with provider_http.build_http_client(Settings()) as http:
        answer = await http.send(provider_http.Endpoint(http, url).post_form({"id": "1"}))
    assert answer.json() == {"views": 1234}
    assert "content-length" not in answer.headers  # its headers as they came
    assert stand_in.heads[0].lower().startswith(b"post / http/1.1\r\n")


async def test_no_more_connections_than_the_settings_allow(
    provider: tuple[Provider, str],
) -> None:
    stand_in, url = provider
    async with provider_http.build_http_client(Settings(http_max_connections=2)) as http:
        answers = await asyncio.gather(*(http.get(url) for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 10
    assert stand_in.connections == 2


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


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
async def test_a_proxy_from_the_environment_is_still_used(
    provider: tuple[Provider, str], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    stand_in, url = provider
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(variable, url)  # the stand-in answers as the proxy would
    async with provider_http.build_http_client(Settings()) as http:
        # Unresolvable but through the proxy: answered.
        assert (await http.get("http://provider.invalid/v1/post")).status_code == 200
    assert stand_in.connections == 1


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        # Cut off before its body's end: the provider's connection dropped mid-answer.
        (b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{}", httpx.ReadError),
        (b"NOT HTTP AT ALL\r\n\r\n", httpx.ReadError),
    ],
)
async def test_a_broken_answer_is_an_httpx_error(
    provider: tuple[Provider, str], answer: bytes, error: type[Exception]
) -> None:
    stand_in, url = provider
    stand_in.answer = answer
    stand_in.hang_up = True
    async with provider_http.build_http_client(Settings()) as http:
        with pytest.raises(error):
            await http.get(url)


async def test_a_provider_that_does_not_answer_in_time_is_a_read_timeout(
    provider: tuple[Provider, str],
) -> None:
    stand_in, url = provider
    stand_in.answer = b""  # reads the request, never answers
    async with provider_http.build_http_client(Settings(http_timeout_seconds=0.2)) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.get(url)


async def test_a_provider_that_refuses_the_connection_is_a_connect_error() -> None:
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()  # nothing listens there now
    async with provider_http.build_http_client(Settings()) as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(f"http://127.0.0.1:{port}/")


async def test_a_request_goes_out_as_httpx_wrote_it(provider: tuple[Provider, str]) -> None:
    """Its query and path as encoded, its credentials as httpx's header, and no header
    aiohttp would add on its own."""
    stand_in, url = provider
    with_user = url.replace("http://", "http://user:secret@") + "/v1/a%2Fb"
    async with provider_http.build_http_client(Settings()) as http:
        endpoint = provider_http.Endpoint(http, with_user)
        assert (
            await http.send(endpoint.get("url=https%3A%2F%2Fx.test%2Fp%7E1"))
        ).status_code == 200
        assert (await http.post(url, content=b"raw")).status_code == 200
    get, post = (head.lower() for head in stand_in.heads)
    assert get.startswith(b"get /v1/a%2fb?url=https%3a%2f%2fx.test%2fp%7e1 http/1.1\r\n")
    assert get.count(b"authorization: basic ") == 1
    assert b"content-type" not in post


async def test_a_request_the_provider_read_but_did_not_answer_is_not_sent_again(
    provider: tuple[Provider, str],
) -> None:
    """Whether to ask again is the retrier's call, which counts what it asks (a YouTube
    request costs quota)."""
    stand_in, url = provider
    stand_in.answers_left = 1
    async with provider_http.build_http_client(Settings()) as http:
        assert (await http.get(url)).status_code == 200
        with pytest.raises(httpx.ReadError):
            await http.get(url)  # on the kept connection, which the provider then closes
    assert len(stand_in.heads) == 2


async def test_a_request_aiohttp_refuses_to_send_is_an_httpx_error(
    provider: tuple[Provider, str],
) -> None:
    _, url = provider
    async with provider_http.build_http_client(Settings()) as http:
        # A key read from a file with its newline.
        endpoint = provider_http.Endpoint(http, url, {"x-rapidapi-key": "key\n"})
        with pytest.raises(httpx.LocalProtocolError):
            await http.send(endpoint.get())


async def test_a_request_the_client_closed_under_is_an_httpx_error(
    provider: tuple[Provider, str],
) -> None:
    """The worker shutting down while a request's body is still being read."""
    _, url = provider

    async def slowly() -> AsyncIterator[bytes]:
        await asyncio.sleep(0.1)
        yield b"id=1"

    http = provider_http.build_http_client(Settings())
    sending = asyncio.create_task(http.post(url, content=slowly()))
    await asyncio.sleep(0.05)
    await http.aclose()
    with pytest.raises(httpx.TransportError):
        await sending
