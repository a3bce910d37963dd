"""YouTube channels' handles through the Data API v3's channels.list:
`GET {base}/youtube/v3/channels?part=snippet&id=UC...,UC...&maxResults=N&key=KEY`.

videos.list names a video's channel by id and display title only, so a creator's `@handle`
cannot follow a rename from the stats; this call says it. One call takes up to 50 channel
ids and costs 1 quota unit, whatever it answers
(https://developers.google.com/youtube/v3/docs/channels/list). Each `youtube#channel` item
names its `id` and `snippet.customUrl`: the channel's handle with its `@` (`"@name"`), absent
when the channel has none. A channel missing from `items` is deleted, terminated or never
existed: the answer says nothing about it. Errors are videos.list's (quotaExceeded,
keyInvalid, rateLimitExceeded; see app/platforms/youtube.py).

Every request first takes its unit from the lane's budget (the units above the day's
reserve: app/workers/quota.py); with none left nothing is sent and the answer is
`quota_exhausted`. A `quotaExceeded` answer tells the budget the quota is spent."""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import cast
from urllib.parse import quote

import httpx

from app.domain.enums import StatsSource
from app.platforms.contract import FetchError, FetchErrorKind
from app.platforms.fields import Json, Malformed
from app.platforms.http import Endpoint, Reply, send
from app.platforms.retry import Attempt, Retrier
from app.platforms.urls import YOUTUBE_HANDLE
from app.platforms.youtube import QuotaBudget, paid_call, youtube_error

SOURCE = StatsSource.YOUTUBE
BATCH_MAX = 50  # channel ids per channels.list call


@dataclass(frozen=True)
class ChannelPage:
    """What one channels.list call said: each channel it answered for, by id, with its
    handle without the `@` (None when it has none). Channels it left out are absent."""

    handles: dict[str, str | None]
    source: StatsSource = SOURCE  # for the provider request metrics, like a listing page's


def handle_of(custom_url: str | None) -> str | None:
    """The handle in a `customUrl`: `@name` is the handle `name`. Anything else (absent, or
    a legacy custom URL of a channel from before handles, which has no `@`) is no handle."""
    if custom_url is None or not custom_url.startswith("@"):
        return None
    name = custom_url[1:]
    return name if YOUTUBE_HANDLE.match(name) else None


ChannelsResult = ChannelPage | FetchError


class YouTubeChannels:
    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        retrier: Retrier,
        budget: QuotaBudget | None = None,
    ) -> None:
        self._http = http
        self._api = Endpoint(http, base_url.rstrip("/") + "/youtube/v3/channels")
        self._key = api_key
        self._retrier = retrier
        self.budget = budget

    def request(self, ids: Sequence[str]) -> httpx.Request:
        query = f"part=snippet&id={quote(','.join(ids))}&maxResults={len(ids)}"
        if self._key:
            query += f"&key={quote(self._key, safe='')}"
        return self._api.get(query)

    async def _once(self, ids: Sequence[str]) -> ChannelsResult:
        request = self.request(ids)
        return await paid_call(
            self.budget,
            lambda: send(self._http, request, SOURCE, parse_channels),
            "this key's units above the reserve are spent until midnight Pacific time",
        )

    async def handles(self, ids: Sequence[str]) -> ChannelsResult:
        """One call for up to 50 channel ids (more is the caller's mistake)."""
        if not 0 < len(ids) <= BATCH_MAX:
            raise ValueError(f"channels.list takes 1 to {BATCH_MAX} ids, not {len(ids)}")
        # The retrier retries transient errors only (a page passes through it as it came);
        # each retry takes its own unit, as YouTube counts it.
        result = await self._retrier.run(
            cast(Attempt, partial(self._once, list(ids))),
            source=SOURCE,
            deadline=self._retrier.deadline(),
        )
        return cast(ChannelsResult, result)


def parse_channels(reply: Reply) -> ChannelsResult:
    if reply.status != 200:
        return youtube_error(reply)
    try:
        body = Json.decode(reply.body)
        kind = body.optional_text("kind")
        if kind is not None and kind != "youtube#channelListResponse":
            raise Malformed(f"body.kind is {kind!r}")
        # An answer that matches no channel leaves `items` out altogether.
        members = body.get("items")
        listed = [] if members is None else members.value
        if not isinstance(listed, list):
            raise Malformed("body.items is not a list")
        found: dict[str, str | None] = {}
        for n, member in enumerate(listed):
            item = Json(member, f"body.items[{n}]")
            snippet = item.get("snippet")
            found[item["id"].text()] = handle_of(
                None if snippet is None else snippet.optional_text("customUrl")
            )
        return ChannelPage(found)
    except Malformed as exc:
        return FetchError(FetchErrorKind.UPSTREAM, f"malformed answer: {exc}", SOURCE)
