"""TikTok primary: a tikwm-style API. `POST {base}/api/` with the video URL as a form field.

Errors arrive as HTTP 200 with `code: -1` and a human `msg`; the ones that matter are
"Url parsing is failed" (invalid, deleted, private, withheld...: it cannot tell which) and
"Free Api Limit", which comes in two kinds:
- "Free Api Limit: 1 request/second." is pacing (rate limited, ask again in a second);
- "Free Api Limit: 10000 request/ 1 day." is the free plan's daily quota per egress IP:
  spent until it resets, so it is `quota_exhausted`, never retried within seconds.

Older answers (2021) have no `share_count` and no `author.id`; photo-mode posts (`images`,
duration 0) report their views in `play_count` like videos and are counted like videos.
"""

import re

import httpx

from app.domain.enums import Platform, StatsSource
from app.platforms.contract import FetchError, FetchErrorKind, FetchResult, VideoRef, VideoStats
from app.platforms.fields import Json
from app.platforms.http import Endpoint, Reply, parse_json_reply, rapidapi_headers, send
from app.platforms.urls import canonical_url

SOURCE = StatsSource.PRIMARY


class TikTokPrimary:
    source = SOURCE

    def __init__(self, http: httpx.AsyncClient, base_url: str, api_key: str | None) -> None:
        self._http = http
        url = base_url.rstrip("/") + "/api/"
        self._api = Endpoint(http, url, rapidapi_headers(base_url, api_key))

    def request(self, video: VideoRef) -> httpx.Request:
        url = canonical_url(Platform.TIKTOK, video.post_id, video.handle)
        return self._api.post_form({"url": url, "hd": "0"})

    async def fetch(self, video: VideoRef) -> FetchResult:
        return await send(self._http, self.request(video), SOURCE, parse_reply)


def parse_reply(reply: Reply) -> FetchResult:
    return parse_json_reply(reply, SOURCE, _parse)


def _parse(body: Json) -> FetchResult:
    code = body["code"]
    if code.value != 0 or isinstance(code.value, bool):
        return tikwm_error(code.text(), body.optional_text("msg") or "")
    data = body["data"]
    author = data["author"]
    return VideoStats(
        views=data["play_count"].count(),
        likes=data["digg_count"].count(),
        comments=data["comment_count"].count(),
        shares=data["share_count"].count() if data.has("share_count") else None,
        handle=author.optional_text("unique_id"),
        platform_user_id=author.optional_text("id"),
        published_at=data.optional_timestamp("create_time"),
        source=SOURCE,
        views_field="play_count",
    )


# "Free Api Limit: 1 request/second.", "Free Api Limit: 10000 request/ 1 day."
_LIMIT = re.compile(
    r"Free Api Limit:\s*\d+\s*requests?\s*/\s*(\d*)\s*(second|sec|minute|min|hour|day)",
    re.IGNORECASE,
)
_PERIOD_SECONDS = {"second": 1, "sec": 1, "minute": 60, "min": 60, "hour": 3600, "day": 86400}
# Limits over a longer period than this are quotas: waiting them out is not a retry.
_LONGEST_PACING_SECONDS = 60


def tikwm_error(code: str, msg: str) -> FetchError:
    """What a tikwm `code != 0` answer means, for the post endpoint and for the account
    listing alike (listings.py reads its account-specific words first, then asks this)."""
    if msg.startswith("Url parsing is failed"):
        # Deleted, private and mistyped all read the same here; the backup tells them apart.
        return FetchError(
            FetchErrorKind.NOT_FOUND, f"not found, deleted or private ({msg})", SOURCE
        )
    if "Free Api Limit" in msg:
        return _limit(msg)
    return FetchError(FetchErrorKind.UPSTREAM, f"code {code}: {msg}", SOURCE)


def _limit(msg: str) -> FetchError:
    match = _LIMIT.search(msg)
    if match is None:  # a limit we cannot read: pacing, the cautious guess
        return FetchError(FetchErrorKind.RATE_LIMITED, msg, SOURCE)
    period = int(match[1] or 1) * _PERIOD_SECONDS[match[2].lower()]
    if period > _LONGEST_PACING_SECONDS:
        return FetchError(FetchErrorKind.QUOTA_EXHAUSTED, f"quota exhausted ({msg})", SOURCE)
    return FetchError(FetchErrorKind.RATE_LIMITED, msg, SOURCE, retry_after=float(period))
