"""Account listings (issue 29, watched accounts): one page of an account's recent posts,
newest first, from the same provider family as the stats (and through the same lanes,
pacing and retry policy). Like the stats clients, listers never raise for anything a
provider or the network does: a page or a typed `FetchError`.

TikTok: tikwm's `POST {primary base}/api/user/posts` with the form `unique_id=<handle>`,
`count`, `cursor` (0 for the first page). Answers `{"code": 0, "data": {"videos": [...],
"cursor": "<next>", "hasMore": bool}}`; each video as in tikwm's post answer (`video_id`,
`create_time`, `title`, `play_count`, `digg_count`, `comment_count`, `share_count`,
`author.id`/`unique_id`). Photo-mode posts (`images`) are counted like videos, as for stats.
Errors come as `code: -1` with a `msg`: a user that does not exist or is private (tikwm's
words say which), and the "Free Api Limit" pacing and quota answers of the post endpoint.

Instagram: `GET {instagram base}/v1/instagram/reels?username=<handle>&cursor=<end_cursor>`
with `x-api-key`: the profile's clips in the web GraphQL's
`xdt_api__v1__clips__user__connection_v2` shape (`edges[].node.media` with `code`,
`taken_at`, `media_type` 1 image, 2 video, 8 carousel, `product_type`, `play_count`,
`like_count`, `comment_count`, `user.pk`/`username`, `caption.text`; `page_info`), beside
`data.user` (`id`, `username`, `is_private`; null when the account does not exist). Only
Reels count as videos: an image or a carousel among them is `not_a_video`.

YouTube: a channel's uploads playlist (its id `UU` + the channel id without `UC`) through the
Data API's `GET {youtube base}/youtube/v3/playlistItems?part=contentDetails,snippet
&playlistId=UU...&maxResults=50&pageToken=...&key=KEY`, 1 quota unit a page, spent from the
lane's `QuotaBudget` before the request (none left: nothing is sent, `quota_exhausted`), like
videos.list. Newest first; `nextPageToken` is the cursor. Each item names its video
(`contentDetails.videoId`), when it was published (`contentDetails.videoPublishedAt`; the
snippet's `publishedAt` is when it joined the playlist), its channel
(`snippet.videoOwnerChannelId`) and its title and description (the caption, for the hashtag
filters). An item without `videoPublishedAt` is a private or deleted upload and is left out.
The listing says nothing of a video's length or shape, so every upload is a video (Shorts
or not), and it carries no statistics: the first stats come from the next refresh. A
channel that does not exist answers 404 `playlistNotFound`: `not_found`.
"""

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol, cast
from urllib.parse import quote

import httpx

from app.domain.enums import Platform, StatsSource
from app.domain.watching import Listed
from app.platforms.contract import FetchError, FetchErrorKind
from app.platforms.fields import Json, Malformed
from app.platforms.http import Endpoint, Reply, http_error, rapidapi_headers, send
from app.platforms.instagram import requires_login
from app.platforms.retry import Attempt, Pace, Retrier, RetryPolicy
from app.platforms.tiktok_primary import tikwm_error
from app.platforms.youtube import QuotaBudget, paid_call, published_at, youtube_error
from app.settings import Settings

PAGE_SIZE = 30
_SETTINGS_KEY = "from settings"


@dataclass(frozen=True)
class ListingPage:
    """One page of an account's posts, newest first."""

    items: list[Listed]
    cursor: str | None  # to ask for the next page with
    has_more: bool
    source: StatsSource
    account_id: str | None = None  # the account's platform user id, when the answer says
    account_handle: str | None = None
    raw_size: int = field(default=0, compare=False)


ListResult = ListingPage | FetchError


class AccountLister(Protocol):
    @property
    def platform(self) -> Platform: ...

    async def list_page(self, handle: str, cursor: str | None) -> ListResult: ...


class Parse(Protocol):
    def __call__(self, reply: Reply) -> ListResult: ...


class _Retrying:
    """A lister's requests under the shared retry policy (and the lane's pace hook)."""

    def __init__(self, retrier: Retrier, source: StatsSource) -> None:
        self._retrier = retrier
        self._source = source

    async def run(self, attempt: Callable[[], Awaitable[ListResult]]) -> ListResult:
        # The retrier only looks at FetchErrors (to retry transient ones); a page passes
        # through it as it came.
        result = await self._retrier.run(
            cast(Attempt, attempt),
            source=self._source,
            deadline=self._retrier.deadline(),
        )
        return cast(ListResult, result)


# TikTok (tikwm)


class TikTokLister:
    platform = Platform.TIKTOK
    source = StatsSource.PRIMARY

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, api_key: str | None, retrier: Retrier
    ) -> None:
        self._http = http
        url = base_url.rstrip("/") + "/api/user/posts"
        self._api = Endpoint(http, url, rapidapi_headers(base_url, api_key))
        self._retrying = _Retrying(retrier, self.source)

    def request(self, handle: str, cursor: str | None) -> httpx.Request:
        form = {"unique_id": f"@{handle}", "count": str(PAGE_SIZE), "cursor": cursor or "0"}
        return self._api.post_form(form)

    async def _once(self, handle: str, cursor: str | None) -> ListResult:
        return await send(self._http, self.request(handle, cursor), self.source, parse_tikwm)

    async def list_page(self, handle: str, cursor: str | None) -> ListResult:
        return await self._retrying.run(partial(self._once, handle, cursor))


def parse_tikwm(reply: Reply) -> ListResult:
    source = StatsSource.PRIMARY
    if reply.status != 200:
        return http_error(reply, source)
    try:
        body = Json.decode(reply.body)
        code = body["code"]
        if code.value != 0 or isinstance(code.value, bool):
            return _tikwm_listing_error(code.text(), body.optional_text("msg") or "")
        data = body["data"]
        videos = data["videos"]
        if not isinstance(videos.value, list):
            raise Malformed(f"{videos.path} is not a list")
        items = [_tikwm_item(Json(v, f"{videos.path}[{i}]")) for i, v in enumerate(videos.value)]
        more = data.get("hasMore")
        has_more = bool(more.value) if more is not None else False
        account = items[0] if items else None
        return ListingPage(
            items=items,
            cursor=data.optional_text("cursor"),
            has_more=has_more,
            source=source,
            account_id=account.author_id if account else None,
            account_handle=account.author_handle if account else None,
            raw_size=len(reply.body),
        )
    except Malformed as exc:
        return FetchError(FetchErrorKind.UPSTREAM, f"malformed answer: {exc}", source)


def _tikwm_listing_error(code: str, msg: str) -> FetchError:
    source = StatsSource.PRIMARY
    lowered = msg.lower()
    if "private" in lowered:
        return FetchError(FetchErrorKind.PRIVATE, f"account is private ({msg})", source)
    if "user" in lowered and ("exist" in lowered or "not found" in lowered or "find" in lowered):
        return FetchError(FetchErrorKind.NOT_FOUND, f"account not found ({msg})", source)
    return tikwm_error(code, msg)


def _tikwm_item(item: Json) -> Listed:
    author = item.get("author")
    return Listed(
        post_id=(item.get("video_id") or item["id"]).text(),
        published_at=item.optional_timestamp("create_time"),
        is_video=True,  # photo-mode posts report views like videos, and count like them
        author_id=author.optional_text("id") if author else None,
        author_handle=author.optional_text("unique_id") if author else None,
        caption=item.optional_text("title"),
        views=_count(item, "play_count"),
        likes=_count(item, "digg_count"),
        comments=_count(item, "comment_count"),
        shares=_count(item, "share_count"),
    )


def _count(item: Json, key: str) -> int | None:
    member = item.get(key)
    return member.count() if member is not None else None


# Instagram

_CLIPS = "xdt_api__v1__clips__user__connection_v2"
_VIDEO = 2


class InstagramLister:
    platform = Platform.INSTAGRAM
    source = StatsSource.INSTAGRAM

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, api_key: str | None, retrier: Retrier
    ) -> None:
        self._http = http
        url = base_url.rstrip("/") + "/v1/instagram/reels"
        self._api = Endpoint(http, url, {"x-api-key": api_key} if api_key else {})
        self._retrying = _Retrying(retrier, self.source)

    def request(self, handle: str, cursor: str | None) -> httpx.Request:
        query = f"username={quote(handle, safe='')}"
        if cursor:
            query += f"&cursor={quote(cursor, safe='')}"
        return self._api.get(query)

    async def _once(self, handle: str, cursor: str | None) -> ListResult:
        request = self.request(handle, cursor)
        return await send(self._http, request, self.source, parse_instagram)

    async def list_page(self, handle: str, cursor: str | None) -> ListResult:
        return await self._retrying.run(partial(self._once, handle, cursor))


def parse_instagram(reply: Reply) -> ListResult:
    source = StatsSource.INSTAGRAM
    try:
        if reply.status == 401 and requires_login(reply.body):
            return FetchError(
                FetchErrorKind.RATE_LIMITED,
                "Instagram asks to log in (throttled)",
                source,
                reply.retry_after,
            )
        if reply.status != 200:
            return http_error(reply, source)
        body = Json.decode(reply.body)
        status = body.optional_text("status")
        if status is not None and status != "ok":
            return FetchError(FetchErrorKind.UPSTREAM, f"status {status!r}", source)
        data = body["data"]
        user = data.get("user")
        if user is None:
            return FetchError(FetchErrorKind.NOT_FOUND, "account not found", source)
        private = user.get("is_private")
        if private is not None and private.value is True:
            return FetchError(FetchErrorKind.PRIVATE, "account is private", source)
        clips = data[_CLIPS]
        edges = clips["edges"]
        if not isinstance(edges.value, list):
            raise Malformed(f"{edges.path} is not a list")
        items = [
            _instagram_item(Json(e, f"{edges.path}[{i}]")["node"]["media"])
            for i, e in enumerate(edges.value)
        ]
        page_info = clips["page_info"]
        more = page_info.get("has_next_page")
        return ListingPage(
            items=items,
            cursor=page_info.optional_text("end_cursor"),
            has_more=bool(more.value) if more is not None else False,
            source=source,
            account_id=user.optional_text("id"),
            account_handle=user.optional_text("username"),
            raw_size=len(reply.body),
        )
    except Malformed as exc:
        return FetchError(FetchErrorKind.UPSTREAM, f"malformed answer: {exc}", source)


def _instagram_item(media: Json) -> Listed:
    kind = media["media_type"].count()
    product = media.optional_text("product_type")
    owner = media.get("user") or media.get("owner")
    caption = media.get("caption")
    is_reel = kind == _VIDEO and product in (None, "clips")
    views = _count(media, "play_count")
    if views is None:
        views = _count(media, "view_count")
    return Listed(
        post_id=media["code"].text(),
        published_at=media.optional_timestamp("taken_at"),
        is_video=is_reel,
        author_id=(owner.optional_text("pk") or owner.optional_text("id")) if owner else None,
        author_handle=owner.optional_text("username") if owner else None,
        caption=caption.optional_text("text") if caption else None,
        views=views,
        likes=_count(media, "like_count"),
        comments=_count(media, "comment_count"),
        shares=None,
    )


# YouTube

YOUTUBE_PAGE = 50  # playlistItems' largest page
_CHANNEL_ID = re.compile(r"^UC[A-Za-z0-9_-]{22}$")
_YOUTUBE_PARTS = "contentDetails,snippet"


def uploads_playlist(channel_id: str) -> str | None:
    """A channel's uploads playlist: `UU` and the channel id after its `UC`."""
    return "UU" + channel_id[2:] if _CHANNEL_ID.fullmatch(channel_id) else None


class YouTubeLister:
    """Lists a channel by its id (a YouTube creator's platform user id)."""

    platform = Platform.YOUTUBE
    source = StatsSource.YOUTUBE

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        retrier: Retrier,
        budget: QuotaBudget | None = None,
    ) -> None:
        self._http = http
        self._api = Endpoint(http, base_url.rstrip("/") + "/youtube/v3/playlistItems")
        self._key = api_key
        self._retrying = _Retrying(retrier, self.source)
        self.budget = budget

    def request(self, playlist: str, cursor: str | None) -> httpx.Request:
        query = (
            f"part={quote(_YOUTUBE_PARTS)}&playlistId={quote(playlist, safe='')}"
            f"&maxResults={YOUTUBE_PAGE}"
        )
        if cursor:
            query += f"&pageToken={quote(cursor, safe='')}"
        if self._key:
            query += f"&key={quote(self._key, safe='')}"
        return self._api.get(query)

    async def _once(self, playlist: str, cursor: str | None) -> ListResult:
        request = self.request(playlist, cursor)
        return await paid_call(
            self.budget,
            lambda: send(self._http, request, self.source, parse_youtube),
            "this key's units above the reserve are spent until midnight Pacific time",
        )

    async def list_page(self, handle: str, cursor: str | None) -> ListResult:
        """`handle` is the channel id (`UC...`)."""
        playlist = uploads_playlist(handle)
        if playlist is None:
            return FetchError(
                FetchErrorKind.NOT_FOUND, f"not a YouTube channel id: {handle!r}", self.source
            )
        return await self._retrying.run(partial(self._once, playlist, cursor))


def parse_youtube(reply: Reply) -> ListResult:
    source = StatsSource.YOUTUBE
    if reply.status == 404:
        return FetchError(
            FetchErrorKind.NOT_FOUND, "channel not found (no uploads playlist)", source
        )
    if reply.status != 200:
        return youtube_error(reply)
    try:
        body = Json.decode(reply.body)
        kind = body.optional_text("kind")
        if kind is not None and kind != "youtube#playlistItemListResponse":
            raise Malformed(f"body.kind is {kind!r}")
        members = body["items"]
        if not isinstance(members.value, list):
            raise Malformed(f"{members.path} is not a list")
        listed = (
            _youtube_item(Json(m, f"{members.path}[{i}]")) for i, m in enumerate(members.value)
        )
        items = [item for item in listed if item is not None]
        cursor = body.optional_text("nextPageToken")
        return ListingPage(
            items=items,
            cursor=cursor,
            has_more=cursor is not None,
            source=source,
            account_id=items[0].author_id if items else None,
            raw_size=len(reply.body),
        )
    except Malformed as exc:
        return FetchError(FetchErrorKind.UPSTREAM, f"malformed answer: {exc}", source)


def _youtube_item(item: Json) -> Listed | None:
    details = item["contentDetails"]
    snippet = item["snippet"]
    published = details.get("videoPublishedAt")
    if published is None:
        return None  # a private or deleted upload: nothing anyone can watch
    caption = "\n".join(
        t for t in (snippet.optional_text("title"), snippet.optional_text("description")) if t
    )
    return Listed(
        post_id=details["videoId"].text(),
        published_at=published_at(published),
        is_video=True,  # playlistItems does not say which uploads are Shorts
        author_id=snippet.optional_text("videoOwnerChannelId")
        or snippet.optional_text("channelId"),
        author_handle=None,  # YouTube names channels by id; the title is a display name
        caption=caption or None,
    )


def build_listers(
    settings: Settings,
    http: httpx.AsyncClient,
    paces: Mapping[Platform, Pace] | None = None,
    *,
    tiktok_key: str | None = _SETTINGS_KEY,
    instagram_key: str | None = _SETTINGS_KEY,
    youtube_key: str | None = _SETTINGS_KEY,
    youtube_budget: QuotaBudget | None = None,
) -> dict[Platform, AccountLister]:
    """One lister per platform, with the stats clients' base URLs, keys and retry policy;
    `paces` as for `registry.build_clients` (a lane passes its own spacer and keys; a
    YouTube lane its key and its daily quota as `youtube_budget`)."""
    paces = paces or {}
    policy = RetryPolicy.from_settings(settings)
    if tiktok_key == _SETTINGS_KEY:
        tiktok_key = settings.tiktok_primary_api_key
    if instagram_key == _SETTINGS_KEY:
        instagram_key = settings.instagram_api_key
    if youtube_key == _SETTINGS_KEY:
        youtube_key = settings.youtube_api_key
    return {
        Platform.TIKTOK: TikTokLister(
            http,
            settings.tiktok_primary_base_url,
            tiktok_key,
            Retrier(policy, pace=paces.get(Platform.TIKTOK)),
        ),
        Platform.INSTAGRAM: InstagramLister(
            http,
            settings.instagram_base_url,
            instagram_key,
            Retrier(policy, pace=paces.get(Platform.INSTAGRAM)),
        ),
        Platform.YOUTUBE: YouTubeLister(
            http,
            settings.youtube_base_url,
            youtube_key,
            Retrier(policy, pace=paces.get(Platform.YOUTUBE)),
            youtube_budget,
        ),
    }
