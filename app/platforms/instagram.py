"""Instagram: the web GraphQL post shape behind a keyed API.
`GET {base}/v1/instagram/post?url=https://www.instagram.com/p/SHORTCODE/` with `x-api-key`.

The media object comes as `xdt_shortcode_media` (current) or `shortcode_media` (older), with
`__typename` spelled with or without the `XDT` prefix. Null media means deleted or private;
Instagram does not say which. A 401 carrying `require_login` is Instagram throttling
anonymous reads, not a bad key.

Views are `video_play_count` (every play, the number Instagram shows on reels), falling back
to `video_view_count` (the older, smaller metric) on answers without it; both are present on
current reels and differ several-fold, so the field read is kept with the stats. Older
timeline nodes have an `owner` with only an `id`, and comments in `edge_media_to_comment`.
"""

from urllib.parse import quote

import httpx

from app.domain.enums import Platform, StatsSource
from app.platforms.contract import (
    FetchError,
    FetchErrorKind,
    FetchResult,
    SkipCode,
    Skipped,
    VideoRef,
    VideoStats,
)
from app.platforms.fields import Json, Malformed
from app.platforms.http import Endpoint, Reply, http_error, send, with_raw
from app.platforms.urls import canonical_url

SOURCE = StatsSource.INSTAGRAM


class InstagramProvider:
    source = SOURCE

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str | None) -> None:
        self._http = http
        url = base_url.rstrip("/") + "/v1/instagram/post"
        self._api = Endpoint(http, url, {"x-api-key": api_key} if api_key else {})

    def request(self, video: VideoRef) -> httpx.Request:
        # The query encoded here: httpx's params merging costs more than the rest of the
        # request put together.
        query = quote(canonical_url(Platform.INSTAGRAM, video.post_id), safe="")
        return self._api.get(f"url={query}")

    async def fetch(self, video: VideoRef) -> FetchResult:
        return await send(self._http, self.request(video), SOURCE, parse_reply)


def parse_reply(reply: Reply) -> FetchResult:
    try:
        if reply.status == 401 and requires_login(reply.body):
            return FetchError(
                FetchErrorKind.RATE_LIMITED,
                "Instagram asks to log in (throttled)",
                SOURCE,
                reply.retry_after,
            )
        if reply.status != 200:
            return http_error(reply, SOURCE)
        return with_raw(_parse(Json.decode(reply.body)), reply.body)
    except Malformed as exc:
        return FetchError(FetchErrorKind.UPSTREAM, f"malformed answer: {exc}", SOURCE)


def requires_login(body: bytes) -> bool:
    try:
        flag = Json.decode(body).get("require_login")
    except Malformed:
        return False
    return flag is not None and flag.value is True


def _parse(body: Json) -> FetchResult:
    status = body.optional_text("status")
    if status is not None and status != "ok":
        return FetchError(FetchErrorKind.UPSTREAM, f"status {status!r}", SOURCE)
    data = body["data"]
    media = data.get("xdt_shortcode_media") or data.get("shortcode_media")
    if media is None:
        return FetchError(FetchErrorKind.NOT_FOUND, "post not found or private", SOURCE)
    kind = media["__typename"].text().removeprefix("XDT")
    views_field = "video_play_count" if media.has("video_play_count") else "video_view_count"
    views_member = media.get(views_field)
    views = views_member.count() if views_member is not None else None
    if kind == "GraphSidecar" and not views:
        return Skipped("carousel_zero_views", SOURCE, SkipCode.CAROUSEL)
    if kind == "GraphImage" and views is None:
        return Skipped("photo_has_no_views", SOURCE, SkipCode.PHOTO)
    if views is None:
        raise Malformed(f"{media.path} has neither video_play_count nor video_view_count")
    likes = media.get("edge_media_preview_like") or media["edge_liked_by"]
    comments = media.get("edge_media_to_parent_comment") or media["edge_media_to_comment"]
    owner = media.get("owner")
    return VideoStats(
        views=views,
        likes=likes["count"].count(),
        comments=comments["count"].count(),
        shares=None,
        handle=owner.optional_text("username") if owner else None,
        platform_user_id=owner.optional_text("id") if owner else None,
        published_at=media.optional_timestamp("taken_at_timestamp"),
        source=SOURCE,
        views_field=views_field,
    )
