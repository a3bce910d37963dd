"""The network edge every provider shares: one long-lived httpx client per process, and the
one place where transport exceptions become `FetchError`s."""

import asyncio
import contextlib
import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar
from urllib.parse import urlencode
from urllib.request import getproxies

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


def build_http_client(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """Create once per process (worker startup) and close on shutdown: connection pooling
    only pays off when the client outlives a request. Its requests travel on aiohttp
    (app/platforms/transport.py: a third of the CPU per request), mounted for every URL
    so that httpx still sends those a proxy from the environment is for (`HTTP_PROXY`, ...)
    through the proxy, and those `NO_PROXY` names on its own transport, as it would. An
    `ALL_PROXY` is httpx's mount for every URL: then it is left in place, and every request
    is httpx's own. `transport` replaces all of that (the engine's benchmark answers in
    process)."""
    if transport is not None:
        mounts: dict[str, httpx.AsyncBaseTransport | None] = {}
    else:
        # Imported here: aiohttp adds 13 MB to a process, and only those that ask providers
        # need it (the API answers without it; the engine's benchmark asks an in-process one).
        from app.platforms.transport import AiohttpTransport

        all_proxy = "all" in getproxies()
        mounts = {} if all_proxy else {"all://": AiohttpTransport(settings.http_max_connections)}
    return _ProviderClient(
        transport=transport,
        mounts=mounts,
        timeout=httpx.Timeout(settings.http_timeout_seconds),
        # For httpx's own transports: through a proxy, and to the hosts NO_PROXY names.
        limits=httpx.Limits(
            max_connections=settings.http_max_connections,
            max_keepalive_connections=settings.http_max_connections,
        ),
        headers={"user-agent": USER_AGENT},
        follow_redirects=False,
    )


class _NoCookies(httpx.Cookies):
    """A jar that never reads an answer's `Set-Cookie`: a provider is asked the same way
    whatever it set before."""

    def extract_cookies(self, response: httpx.Response) -> None:
        """Nothing is kept, so nothing is read. httpx reads every answer's `Set-Cookie`
        through urllib's cookie machinery (a `urllib.request.Request` built from the URL
        each time): 7.6% of the engine's CPU in the pipeline benchmark (issue 24)."""


class _ProviderClient(httpx.AsyncClient):
    """httpx's client, without cookies (`_NoCookies`)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._none = _NoCookies()

    @property
    def cookies(self) -> httpx.Cookies:
        return self._none

    @cookies.setter
    def cookies(self, cookies: object) -> None:
        raise TypeError("a provider client keeps no cookies")


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
        url = _with_query(self._url, query) if query else self._url
        return httpx.Request("GET", url, headers=self._headers, extensions=self._extensions)

    def post_form(self, form: Mapping[str, str]) -> httpx.Request:
        """A POST of `form`, URL-encoded."""
        body = urlencode(form).encode("ascii")
        return httpx.Request(
            "POST", self._url, headers=self._form_headers, content=body, extensions=self._extensions
        )


# What httpx's URL parsing leaves of a query as it is: printable ASCII but for space, `"`,
# `#`, `<` and `>` (its `QUERY_SAFE`, which keeps `%`).
_QUERY_AS_IT_IS = re.compile(r"[!$-;=?-~]*")
_SHORT = 2000  # far below httpx's limit on a URL's length (64 KiB), which it checks


def _with_query(url: httpx.URL, query: str) -> httpx.URL:
    """`url.copy_with(query=...)`, which parses the whole URL again: 26 µs of every Instagram
    request, 1 µs without (issue 24). A query already encoded, as the providers' are, is
    what that parse would make of it, so it replaces the parsed URL's own. The parsed form is
    httpx's (private; tests/platforms/test_endpoint.py fails should it change); any other
    query takes httpx's way."""
    if len(query) > _SHORT or not _QUERY_AS_IT_IS.fullmatch(query):
        return url.copy_with(query=query.encode("ascii"))
    copy = httpx.URL.__new__(httpx.URL)
    copy._uri_reference = url._uri_reference._replace(query=query)
    return copy


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


# Told of every answer (or failure to answer) the moment `send` has it, before it is parsed:
# a batch's requests in flight together (the refresher's, app/workers/refresher.py) time the
# pause that follows them from the last, as the provider sees it.
_ON_ANSWER: ContextVar[Callable[[], None] | None] = ContextVar("on_answer", default=None)


@contextlib.contextmanager
def noting_answers(note: Callable[[], None]) -> Iterator[None]:
    """Within: `note()` as each of this task's requests is answered, and then the answers of
    the requests sent beside it are read before this one is parsed. A batch's answers arrive
    together and were read and parsed one after another, so the last was noted ~2.7 ms after
    it arrived, each TikTok batch (issue 24 item 2)."""
    token = _ON_ANSWER.set(note)
    try:
        yield
    finally:
        _ON_ANSWER.reset(token)


def _note() -> bool:
    if (note := _ON_ANSWER.get()) is None:
        return False
    note()
    return True


async def _answered() -> None:
    if _note():
        await asyncio.sleep(0)  # the other tasks' answers are read and noted first


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
        await _answered()
        return FetchError(FetchErrorKind.UPSTREAM, f"timed out ({type(exc).__name__})", source)
    except httpx.HTTPError as exc:
        await _answered()
        return FetchError(FetchErrorKind.UPSTREAM, f"transport error: {exc!r}", source)
    except BaseException:
        # Cut off (the retrier's deadline for the attempt, a shutdown): the request ended
        # here, and the pause after its batch is timed from now, not from an earlier answer.
        _note()
        raise
    answered_at = datetime.now(UTC)
    await _answered()
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
