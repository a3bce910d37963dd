"""The providers' HTTP transport: httpx's requests and answers, carried by aiohttp.

The engine asks providers thousands of times a minute, and the pacing's critical path is the
client's own CPU: a TikTok batch's ten requests are sent one after another on one event
loop, and its pause starts only once the last answer is read. httpx's own transport
(httpcore over anyio) spent ~650 µs of CPU per request on this machine, ten at a time on
kept-alive connections, most of it in the pool's locks, cancel scopes and connection scans;
aiohttp (C-accelerated HTTP parsing, connections on asyncio's own transports) spends ~230
with httpx's client and models on top (issue 24 item 2). The providers' code still speaks
httpx: requests, answers, event hooks, and an `httpx.MockTransport` in its tests.

What it keeps of httpx's transport: the timeouts each request carries, no redirects (the
client follows none), bodies left as they came (httpx decodes them), every failure raised
as an `httpx.TransportError` (`send` in app/platforms/http.py makes them FetchErrors).
What it adds: no cookie is ever kept or sent (a provider is asked the same way whatever it
set before). It reads nothing from the environment: aiohttp's `trust_env` looks proxies and
.netrc up again for every request (400 µs), so the client leaves proxies to httpx
(`build_http_client`)."""

import ssl

import aiohttp
import httpx

# How long an idle connection is kept for the next request: httpx's own pool's default.
_KEEPALIVE_SECONDS = 5.0


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp session, opened on the first request (it needs the running loop) and
    closed with the client. Answers are read whole here, so every failure of the exchange
    happens where it is mapped."""

    def __init__(self, max_connections: int) -> None:
        self._max_connections = max_connections
        # What httpx's own transport verifies with: certifi's roots, or SSL_CERT_FILE.
        self._ssl: ssl.SSLContext = httpx.create_ssl_context()
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                limit=self._max_connections,
                keepalive_timeout=_KEEPALIVE_SECONDS,
                ssl=self._ssl,
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            auto_decompress=False,
        )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()  # the providers' requests carry theirs whole
        try:
            async with session.request(
                request.method,
                str(request.url),
                headers=request.headers.multi_items(),
                data=body or None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    connect=timeout.get("pool"),
                    sock_connect=timeout.get("connect"),
                    sock_read=timeout.get("read"),
                ),
            ) as answer:
                content = await answer.read()
                version = answer.version or aiohttp.HttpVersion11
        except aiohttp.ConnectionTimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connecting timed out", request=request) from exc
        except TimeoutError as exc:  # aiohttp's read timeouts are TimeoutErrors too
            raise httpx.ReadTimeout(str(exc) or "reading timed out", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except (aiohttp.ClientError, OSError) as exc:
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            content=content,
            request=request,
            extensions={
                "http_version": f"HTTP/{version.major}.{version.minor}".encode(),
                "reason_phrase": (answer.reason or "").encode(),
            },
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
