"""Short links (vm.tiktok.com/X, tiktok.com/t/X, instagram.com/share/...) name no video until
their redirects are followed. We follow them ourselves, hop by hop, and only while every hop
stays on the platform's own hosts and default ports: a user-supplied URL must never make this
service fetch anything else (SSRF).

Resolving is I/O on someone else's server, so it happens before the request (or the bulk
import's chunk) takes a database connection, within one time budget for all hops, and at most
`concurrency` at a time per process, through the process's one resolver: a host that hangs
costs waiting requests, never the database's pool.

The resolver serves organizations in turns, and keeps one of its slots for an organization
that has none in flight: one organization's links that hang (a thousand pasted at once) never
take every slot, so another's link starts at once and resolves within its own budget."""

import asyncio
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx

from app.platforms.urls import PostRef, ShortLink, UrlError, parse_video_url, platform_of_host
from app.settings import ProviderMode, Settings


class ShortLinkInvalid(Exception):
    """The link does not lead to a video on its platform: the caller's input is wrong."""


class ShortLinkUnavailable(Exception):
    """The platform did not answer in time, or answered with an error: try again later."""


class FairSlots:
    """At most `size` holders at once, handed out to organizations in turns. An organization
    that already holds a slot takes another only while a second one is free: the last free
    slot is kept for an organization with none, so one tenant cannot hold them all."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._held: Counter[Hashable] = Counter()
        # Waiters by organization; the organization served last moves to the back.
        self._waiting: OrderedDict[Hashable, deque[asyncio.Future[None]]] = OrderedDict()

    @property
    def in_use(self) -> int:
        return self._held.total()

    def _may_take(self, who: Hashable) -> bool:
        free = self._size - self._held.total()
        return free >= 2 or (free == 1 and self._held[who] == 0)

    def _hand_out(self) -> None:
        """Give free slots to the waiting organizations in turn, while any may take one."""
        handed = True
        while handed:
            handed = False
            for who in list(self._waiting):
                queue = self._waiting[who]
                while queue and queue[0].done():  # cancelled while waiting
                    queue.popleft()
                if not queue:
                    del self._waiting[who]
                    continue
                if self._may_take(who):
                    queue.popleft().set_result(None)
                    self._held[who] += 1
                    self._waiting.move_to_end(who)
                    handed = True
                    break

    def _release(self, who: Hashable) -> None:
        self._held[who] -= 1
        if self._held[who] <= 0:
            del self._held[who]
        self._hand_out()

    @asynccontextmanager
    async def slot(self, who: Hashable) -> AsyncIterator[None]:
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(who, deque()).append(waiter)
        self._hand_out()
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self._release(who)  # handed a slot as the wait was cancelled
            else:
                waiter.cancel()
                self._hand_out()  # drops the cancelled waiter
            raise
        try:
            yield
        finally:
            self._release(who)


class Resolver:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        budget_seconds: float,
        max_hops: int,
        concurrency: int,
        via: str | None = None,
        slots: FairSlots | None = None,
        budget_from_slot: bool = False,
    ) -> None:
        """`via`: send every hop to this base URL instead, with the link's host in the Host
        header (sandbox mode: the sandbox answers for the platforms' short-link hosts)."""
        self._http = http
        self._budget = budget_seconds
        self._max_hops = max_hops
        self._concurrency = concurrency
        self.slots = slots or FairSlots(concurrency)
        self._via = via
        self._base = via.rstrip("/") if via else None
        self._budget_from_slot = budget_from_slot

    def background(self) -> "Resolver":
        """This resolver, its slots shared, for links nobody is waiting on (a bulk import's
        chunk): each link's budget counts from when it gets its slot, so fifty links queued
        behind each other each get the whole budget instead of timing out in the queue."""
        return Resolver(
            self._http,
            budget_seconds=self._budget,
            max_hops=self._max_hops,
            concurrency=self._concurrency,
            via=self._via,
            slots=self.slots,
            budget_from_slot=True,
        )

    async def resolve(self, link: ShortLink, organization: uuid.UUID | None = None) -> PostRef:
        """The video the link leads to; `organization` is whose turn the link waits in. The
        budget counts from the call, the wait for a slot included (someone is waiting on the
        answer), or from the slot for a `background()` resolver."""
        try:
            if self._budget_from_slot:
                async with self.slots.slot(organization), asyncio.timeout(self._budget):
                    return await self._follow(link)
            async with asyncio.timeout(self._budget), self.slots.slot(organization):
                return await self._follow(link)
        except TimeoutError:
            raise ShortLinkUnavailable from None

    async def _follow(self, link: ShortLink) -> PostRef:
        url = httpx.URL(link.url)
        for _ in range(self._max_hops):
            _check_hop(url, link)
            try:
                response = await self._get(url)
            except (httpx.HTTPError, httpx.InvalidURL):
                raise ShortLinkUnavailable from None
            if response.status_code >= 500 or response.status_code == 429:
                raise ShortLinkUnavailable
            location = response.headers.get("location")
            if not response.is_redirect or not location:
                raise ShortLinkInvalid
            try:
                url = url.join(location)
            except httpx.InvalidURL:
                raise ShortLinkInvalid from None
            _check_hop(url, link)
            try:
                ref = parse_video_url(str(url))
            except UrlError:
                ref = None  # an intermediate page on the platform: keep following
            if isinstance(ref, PostRef):
                return ref
        raise ShortLinkInvalid

    async def _get(self, url: httpx.URL) -> httpx.Response:
        if self._base is None:
            return await self._http.get(url, follow_redirects=False)
        routed = f"{self._base}{url.raw_path.decode('ascii')}"
        return await self._http.get(routed, headers={"Host": url.host}, follow_redirects=False)


def resolver_for(http: httpx.AsyncClient, settings: Settings) -> Resolver:
    """The process's resolver, as settings configure it. In sandbox mode the sandbox
    answers for the platforms' short-link hosts."""
    return Resolver(
        http,
        budget_seconds=settings.shortlink_budget_seconds,
        max_hops=settings.shortlink_max_hops,
        concurrency=settings.shortlink_concurrency,
        via=settings.sandbox_url if settings.provider_mode is ProviderMode.SANDBOX else None,
    )


def _check_hop(url: httpx.URL, link: ShortLink) -> None:
    """Every hop, the first included: http(s), the platform's own hosts, default ports."""
    if url.scheme not in ("http", "https") or platform_of_host(url.host) != link.platform:
        raise ShortLinkInvalid
    if urlsplit(str(url)).port is not None:
        raise ShortLinkInvalid
