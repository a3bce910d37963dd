"""The network edge every provider shares: one long-lived httpx client per process, and the
one place where transport exceptions become `FetchError`s."""

import hashlib
import importlib.util
import select
import ssl
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpcore
import httpx

from app.domain.enums import StatsSource
from app.platforms.contract import (
    RAW_MAX_BYTES,
    FetchError,
    FetchErrorKind,
    FetchResult,
    VideoStats,
)
from app.platforms.fields import Json, Malformed
from app.settings import Settings

USER_AGENT = "ViewLedger/0.1 (+https://github.com/viewledger)"

# httpcore runs `import sniffio` inside every lock and event it sets up, several times per
# request. Without sniffio installed (anyio no longer brings it) each of those imports
# searches sys.path and fails: about a third of a TikTok batch's client CPU, on the pacing's
# critical path (issue 24). Record once that it is absent, so the import fails at once;
# httpcore then assumes asyncio, as it does whenever sniffio is missing.
if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
    sys.modules["sniffio"] = None  # type: ignore[assignment]


def build_http_client(settings: Settings) -> httpx.AsyncClient:
    """Create once per process (worker startup) and close on shutdown: connection pooling
    only pays off when the client outlives a request."""
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(settings.http_timeout_seconds),
        limits=httpx.Limits(
            max_connections=settings.http_max_connections,
            max_keepalive_connections=settings.http_max_connections,
        ),
        headers={"user-agent": USER_AGENT},
        follow_redirects=False,
    )
    keep_sockets(http)
    return http


def keep_sockets(http: httpx.AsyncClient) -> None:
    """The client's own connections' streams wrapped in `_SocketStream`s (those through a
    proxy from the environment keep httpx's). httpx keeps its transport in `_transport` and
    the transport its httpcore pool in `_pool`, and has no argument for the pool's network
    backend; a test (tests/platforms/test_http_client.py) fails should a new httpx or
    httpcore move any of them."""
    transport = http._transport
    if isinstance(transport, httpx.AsyncHTTPTransport):
        pool = transport._pool
        if isinstance(pool, httpcore.AsyncConnectionPool):
            pool._network_backend = _SocketBackend(pool._network_backend)


class _SocketStream(httpcore.AsyncNetworkStream):
    """A connection's stream that answers httpcore's "is this idle connection's socket
    readable?" (the server closed it) from the socket it keeps, with one poll. httpcore asks
    it of every idle connection in the pool whenever a request comes or an answer is done
    (`has_expired`), and anyio's stream answers it by building its table of socket
    attributes each time (a getpeername call, six closures): a fifth of the client's CPU for
    a TikTok batch, whose ten connections sit idle between batches (issue 24 item 2)."""

    def __init__(self, stream: httpcore.AsyncNetworkStream, sock: Any = None) -> None:
        self._stream = stream
        self._socket = sock if sock is not None else stream.get_extra_info("socket")
        self._readable = select.poll()
        if self._socket is not None and self._socket.fileno() >= 0:
            self._readable.register(self._socket, select.POLLIN | select.POLLPRI)

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:  # noqa: ASYNC109
        return await self._stream.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:  # noqa: ASYNC109
        await self._stream.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._stream.aclose()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
    ) -> httpcore.AsyncNetworkStream:
        tls = await self._stream.start_tls(ssl_context, server_hostname, timeout)
        return _SocketStream(tls, self._socket)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            if self._socket is None or self._socket.fileno() < 0:
                return True  # as httpcore: a socket that is gone reads as closed
            return bool(self._readable.poll(0))
        return self._stream.get_extra_info(info)


class _SocketBackend(httpcore.AsyncNetworkBackend):
    """httpcore's own backend, its streams wrapped in `_SocketStream`s."""

    def __init__(self, backend: httpcore.AsyncNetworkBackend) -> None:
        self._backend = backend

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _SocketStream(stream)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        stream = await self._backend.connect_unix_socket(path, timeout, socket_options)
        return _SocketStream(stream)

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class Endpoint:
    """One provider URL, with the client's own headers (the user agent, ...) and timeout
    merged in once. `AsyncClient.build_request` merges them and parses the URL again for
    every request: 91 µs to build a TikTok POST on the test machine, 31 from an Endpoint, on
    the engine's critical path (the ten requests of a batch are built after the pacing gate
    opens) and in its CPU per post (issue 24). The requests are what build_request makes,
    but for the client's cookies: a provider's API is asked the same way every time,
    whatever it set before."""

    def __init__(
        self, http: httpx.AsyncClient, url: str, headers: Mapping[str, str] | None = None
    ) -> None:
        self._url = httpx.URL(url)
        self._headers = httpx.Headers(http.headers)
        self._headers.update(headers or {})
        self._form_headers = httpx.Headers(self._headers)
        self._form_headers["content-type"] = "application/x-www-form-urlencoded"
        self._extensions = {"timeout": http.timeout.as_dict()}

    def get(self, query: str = "") -> httpx.Request:
        """A GET with `query`, already encoded (`a=1&b=%2F`)."""
        url = self._url.copy_with(query=query.encode("ascii")) if query else self._url
        return httpx.Request("GET", url, headers=self._headers, extensions=self._extensions)

    def post_form(self, form: Mapping[str, str]) -> httpx.Request:
        """A POST of `form`, URL-encoded."""
        body = urlencode(form).encode("ascii")
        return httpx.Request(
            "POST", self._url, headers=self._form_headers, content=body, extensions=self._extensions
        )


@dataclass(frozen=True)
class Reply:
    """A provider's HTTP answer reduced to what parsers read, so parsers stay pure and can be
    fed stored samples."""

    status: int
    body: bytes
    retry_after: float | None = None  # seconds


Parse = Callable[[Reply], FetchResult]


R = TypeVar("R")
_READ = httpx.ByteStream(b"")  # what an answer's stream is once its body is read (see send)


async def send(
    http: httpx.AsyncClient,
    request: httpx.Request,
    source: StatsSource,
    parse: Callable[[Reply], R],
) -> R | FetchError:
    """One request to a provider: its failure to answer as a FetchError, its answer as `parse`
    reads it (stats stamped with when they were asked for and answered; account listings
    too, as lists)."""
    requested_at = datetime.now(UTC)
    try:
        response = await http.send(request)
    except httpx.TimeoutException as exc:
        return FetchError(FetchErrorKind.UPSTREAM, f"timed out ({type(exc).__name__})", source)
    except httpx.HTTPError as exc:
        return FetchError(FetchErrorKind.UPSTREAM, f"transport error: {exc!r}", source)
    answered_at = datetime.now(UTC)
    # Read whole and closed by now. httpx's response and its stream refer to each other:
    # left so, every answer (~25 objects with its request, URL and headers) would be
    # garbage only the cyclic collector frees, and the engine makes thousands a minute.
    response.stream = _READ
    retry_after = retry_after_seconds(response.headers.get("retry-after"), answered_at)
    result = parse(Reply(response.status_code, response.content, retry_after))
    if isinstance(result, VideoStats):
        return replace(result, requested_at=requested_at, answered_at=answered_at)
    return result


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """RFC 9110 Retry-After: delay-seconds or an HTTP-date. None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" dates parse naive; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def http_error(reply: Reply, source: StatsSource) -> FetchError:
    """The shared reading of HTTP statuses no provider gives a special meaning: gateway auth
    and rate limits, and everything else as an upstream failure."""
    detail = _message(reply.body)
    text = f"HTTP {reply.status}: {detail}" if detail else f"HTTP {reply.status}"
    if reply.status in (401, 403):
        return FetchError(FetchErrorKind.AUTH, text, source)
    if reply.status == 429:
        if "quota" in detail.lower():
            # RapidAPI's "You have exceeded the MONTHLY quota for Requests on your current
            # plan": spent until the plan resets, so retrying within seconds is pointless.
            return FetchError(FetchErrorKind.QUOTA_EXHAUSTED, text, source, reply.retry_after)
        return FetchError(FetchErrorKind.RATE_LIMITED, text, source, reply.retry_after)
    return FetchError(FetchErrorKind.UPSTREAM, text, source, reply.retry_after)


def parse_json_reply(
    reply: Reply, source: StatsSource, parse: Callable[[Json], FetchResult]
) -> FetchResult:
    """A provider answering JSON with 200: non-200 is an HTTP error, a shape surprise is an
    upstream error, anything else is for `parse` to read."""
    if reply.status != 200:
        return http_error(reply, source)
    try:
        return with_raw(parse(Json.decode(reply.body)), reply.body)
    except Malformed as exc:
        return FetchError(FetchErrorKind.UPSTREAM, f"malformed answer: {exc}", source)


def with_raw(result: FetchResult, body: bytes) -> FetchResult:
    """Stats carry the answer they were read from (and its SHA-256) for provenance."""
    if not isinstance(result, VideoStats):
        return result
    return replace(
        result,
        raw=body if len(body) <= RAW_MAX_BYTES else None,
        raw_sha256=hashlib.sha256(body).hexdigest(),
    )


def _message(body: bytes) -> str:
    """Gateways explain errors as {"message": "..."}; keep it for the post's error text."""
    try:
        return (Json.decode(body).optional_text("message") or "")[:200]
    except Malformed:
        return ""


def rapidapi_headers(base_url: str, api_key: str | None) -> dict[str, str]:
    """RapidAPI-style gateways want the key and the API's host; without a key (the sandbox,
    a self-hosted provider) send neither."""
    if not api_key:
        return {}
    return {"x-rapidapi-key": api_key, "x-rapidapi-host": httpx.URL(base_url).host}
