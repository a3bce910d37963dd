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
What it adds: aiohttp keeps no cookie of its own (nor does the client's jar: a provider is
asked the same way whatever it set before), and sends nothing twice.
It reads nothing from the environment: aiohttp's `trust_env` looks proxies and
.netrc up again for every request (400 µs), so the client leaves proxies to httpx
(`build_http_client`)."""

import ssl

import aiohttp
import httpx
import yarl

# How long an idle connection is kept for the next request: httpx's own pool's default.
_KEEPALIVE_SECONDS = 5.0
# Headers aiohttp would add when a request lacks them (its own User-Agent, a Content-Type
# for a body): a request goes out with httpx's headers and no others.
_NOT_ADDED = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")
# httpx's framing of a body it streamed: the body goes out whole, framed by aiohttp.
_FRAMING = frozenset({"transfer-encoding", "content-length"})


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
            skip_auto_headers=_NOT_ADDED,
            auto_decompress=False,
        )
        # aiohttp sends a GET again, unasked, when a kept connection closes before its
        # answer, though the provider may have read it: a request nobody counted (YouTube's
        # quota is counted a request at a time). The retrier decides what is asked again.
        # Private (aiohttp's own test client sets it); tests/platforms/test_http_client.py
        # fails should it stop working.
        self._session._retry_connection = False
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        session = self._session or self._open()
        timeout = request.extensions.get("timeout", {})
        body = await request.aread()  # the providers' requests carry theirs whole
        headers = [(k, v) for k, v in request.headers.multi_items() if k not in _FRAMING]
        try:
            # As httpx encoded it (yarl would decode %2F, %3A, ... in a query and resolve
            # %2e%2e in a path), without a user and password: httpx made them a header.
            url = yarl.URL(str(request.url), encoded=True).with_user(None)
            async with session.request(
                request.method,
                url,
                headers=headers,
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
        except ValueError as exc:
            # What aiohttp refuses to send: a control character in a header (a key read
            # with its trailing newline), a host name no resolver takes.
            raise httpx.LocalProtocolError(f"{type(exc).__name__}: {exc}", request=request) from exc
        except RuntimeError as exc:  # "Session is closed": the client closed meanwhile
            raise httpx.ReadError(f"{type(exc).__name__}: {exc}", request=request) from exc
        return httpx.Response(
            answer.status,
            headers=answer.raw_headers,
            stream=httpx.ByteStream(content),  # as it came: no framing header added
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
