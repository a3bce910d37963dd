"""TikTok backup: TikTok's web item detail behind a RapidAPI-style gateway.
`GET {base}/api/post/detail?videoId=ID`.

Unlike the primary it tells deleted (10204) from private post (10216) and private account
(10222). 10204 is "item unavailable", and its `statusMsg` says why when there is one:
- `cross_border_violation_ur`: withheld from the region the request came from (the video
  exists and plays elsewhere) -> `withheld`;
- `author_status,status_reviewing` (any `..._reviewing`/`..._review` token): held back while
  TikTok reviews the video or its author -> `under_review`;
- `item_privacy_authorization&status_deleted`, empty or anything else -> `not_found`.
Neither of the first two is a deletion.

Counts come as numbers in `stats` and as strings in `statsV2`; the numbers are rounded
(44200000) and saturate at 2^31-1 on the biggest videos while the strings stay exact, so
`statsV2` wins when present. Old answers (2021) have only `stats`.
"""

import re
from urllib.parse import quote

import httpx

from app.domain.enums import StatsSource
from app.platforms.contract import FetchError, FetchErrorKind, FetchResult, VideoRef, VideoStats
from app.platforms.fields import Json, Malformed
from app.platforms.http import Endpoint, Reply, parse_json_reply, rapidapi_headers, send

SOURCE = StatsSource.BACKUP

STATUS_NOT_FOUND = 10204
STATUS_PRIVATE_POST = 10216
STATUS_PRIVATE_ACCOUNT = 10222


class TikTokBackup:
    source = SOURCE

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str | None) -> None:
        self._http = http
        url = base_url.rstrip("/") + "/api/post/detail"
        self._api = Endpoint(http, url, rapidapi_headers(base_url, api_key))

    def request(self, video: VideoRef) -> httpx.Request:
        return self._api.get(f"videoId={quote(video.post_id, safe='')}")

    async def fetch(self, video: VideoRef) -> FetchResult:
        return await send(self._http, self.request(video), SOURCE, parse_reply)


def parse_reply(reply: Reply) -> FetchResult:
    return parse_json_reply(reply, SOURCE, _parse)


_REVIEWING = re.compile(r"review", re.IGNORECASE)
_WITHHELD = re.compile(r"cross_border|region|geo_?block", re.IGNORECASE)


def _unavailable(status_msg: str) -> FetchError:
    """What a 10204 means, from its `statusMsg` tokens (comma or ampersand separated)."""
    tokens = [t for t in re.split(r"[,&\s]+", status_msg) if t]
    detail = f" ({status_msg})" if status_msg else ""
    if any(_WITHHELD.search(t) for t in tokens):
        return FetchError(FetchErrorKind.WITHHELD, f"video withheld in this region{detail}", SOURCE)
    if any(_REVIEWING.search(t) for t in tokens):
        return FetchError(FetchErrorKind.UNDER_REVIEW, f"video under review{detail}", SOURCE)
    return FetchError(FetchErrorKind.NOT_FOUND, f"video not found or deleted{detail}", SOURCE)


def _parse(body: Json) -> FetchResult:
    status = body["statusCode"].count()
    if status == STATUS_NOT_FOUND:
        return _unavailable(_status_msg(body))
    if status == STATUS_PRIVATE_POST:
        return FetchError(FetchErrorKind.PRIVATE, "video is private", SOURCE)
    if status == STATUS_PRIVATE_ACCOUNT:
        return FetchError(FetchErrorKind.PRIVATE, "account is private", SOURCE)
    if status != 0:
        return FetchError(
            FetchErrorKind.UPSTREAM, f"statusCode {status}: {_status_msg(body)}", SOURCE
        )
    item = body["itemInfo"]["itemStruct"]
    author = item["author"]
    counts = _Counts(item)
    views, views_field = counts.required_with_path("playCount")
    return VideoStats(
        views=views,
        likes=counts.required("diggCount"),
        comments=counts.required("commentCount"),
        shares=counts.optional("shareCount"),
        handle=author.optional_text("uniqueId"),
        platform_user_id=author.optional_text("id"),
        published_at=item.optional_timestamp("createTime"),
        source=SOURCE,
        views_field=views_field,
    )


def _status_msg(body: Json) -> str:
    return body.optional_text("statusMsg") or body.optional_text("status_msg") or ""


class _Counts:
    """Reads each count from `statsV2` when it has it, else from `stats`."""

    def __init__(self, item: Json) -> None:
        self._tables = [t for t in (item.get("statsV2"), item.get("stats")) if t is not None]
        if not self._tables:
            raise Malformed(f"{item.path} has neither stats nor statsV2")

    def optional(self, key: str) -> int | None:
        found = self._find(key)
        return found[0] if found is not None else None

    def required(self, key: str) -> int:
        return self.required_with_path(key)[0]

    def required_with_path(self, key: str) -> tuple[int, str]:
        """The count and where it was read, e.g. (1776621, "statsV2.playCount")."""
        found = self._find(key)
        if found is None:
            raise Malformed(f"{self._tables[0].path}.{key} is missing")
        return found

    def _find(self, key: str) -> tuple[int, str] | None:
        for table in self._tables:
            value = table.get(key)
            if value is not None:
                return value.count(), f"{table.path.rsplit('.', 1)[-1]}.{key}"
        return None
