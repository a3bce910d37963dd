"""TikTok backup: TikTok's web item detail behind a RapidAPI-style gateway.
`GET {base}/api/post/detail?videoId=ID`.

Unlike the primary it tells deleted (10204) from private post (10216) and private account
(10222). Counts come as numbers in `stats` and as strings in `statsV2`; the numbers saturate
at 2^31-1 on the biggest videos while the strings stay exact, so `statsV2` wins when present.
"""

import httpx

from app.domain.enums import StatsSource
from app.platforms.contract import FetchError, FetchErrorKind, FetchResult, VideoRef, VideoStats
from app.platforms.fields import Json, Malformed
from app.platforms.http import Reply, parse_json_reply, rapidapi_headers, send

SOURCE = StatsSource.BACKUP

STATUS_NOT_FOUND = 10204
STATUS_PRIVATE_POST = 10216
STATUS_PRIVATE_ACCOUNT = 10222


class TikTokBackup:
    source = SOURCE

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str | None) -> None:
        self._http = http
        self._url = base_url.rstrip("/") + "/api/post/detail"
        self._headers = rapidapi_headers(base_url, api_key)

    def request(self, video: VideoRef) -> httpx.Request:
        return self._http.build_request(
            "GET", self._url, params={"videoId": video.post_id}, headers=self._headers
        )

    async def fetch(self, video: VideoRef) -> FetchResult:
        return await send(self._http, self.request(video), SOURCE, parse_reply)


def parse_reply(reply: Reply) -> FetchResult:
    return parse_json_reply(reply, SOURCE, _parse)


def _parse(body: Json) -> FetchResult:
    status = body["statusCode"].count()
    if status == STATUS_NOT_FOUND:
        return FetchError(FetchErrorKind.NOT_FOUND, "video not found or deleted", SOURCE)
    if status == STATUS_PRIVATE_POST:
        return FetchError(FetchErrorKind.PRIVATE, "video is private", SOURCE)
    if status == STATUS_PRIVATE_ACCOUNT:
        return FetchError(FetchErrorKind.PRIVATE, "account is private", SOURCE)
    if status != 0:
        msg = body.optional_text("statusMsg") or body.optional_text("status_msg") or ""
        return FetchError(FetchErrorKind.UPSTREAM, f"statusCode {status}: {msg}", SOURCE)
    item = body["itemInfo"]["itemStruct"]
    author = item["author"]
    counts = _Counts(item)
    return VideoStats(
        views=counts.required("playCount"),
        likes=counts.required("diggCount"),
        comments=counts.required("commentCount"),
        shares=counts.optional("shareCount"),
        handle=author.optional_text("uniqueId"),
        platform_user_id=author.optional_text("id"),
        published_at=item.optional_timestamp("createTime"),
        source=SOURCE,
    )


class _Counts:
    """Reads each count from `statsV2` when it has it, else from `stats`."""

    def __init__(self, item: Json) -> None:
        self._tables = [t for t in (item.get("statsV2"), item.get("stats")) if t is not None]
        if not self._tables:
            raise Malformed(f"{item.path} has neither stats nor statsV2")

    def optional(self, key: str) -> int | None:
        for table in self._tables:
            value = table.get(key)
            if value is not None:
                return value.count()
        return None

    def required(self, key: str) -> int:
        value = self.optional(key)
        if value is None:
            raise Malformed(f"{self._tables[0].path}.{key} is missing")
        return value
