"""YouTube (Shorts and every other video) through the YouTube Data API v3:
`GET {base}/youtube/v3/videos?part=statistics,snippet,contentDetails&id=ID,ID,...&key=KEY`.

One call takes up to 50 ids and costs 1 quota unit, whatever it answers; a key has a daily
quota (10,000 units by default) that resets at midnight Pacific time. So this client fetches
in batches: `fetch_many` asks for up to 50 videos in one request and hands back one result
per video, in order. `fetch` is a batch of one.

Reading an answer (https://developers.google.com/youtube/v3/docs/videos):
- views are `statistics.viewCount`: since 31 March 2025 a Shorts view counts every play and
  replay. (The older "engaged views" are only in the owner's YouTube Analytics.)
- likes are `statistics.likeCount`, absent when the channel hides them: unknown (None), not 0;
  comments `statistics.commentCount` (absent when comments are off: 0); no shares.
- the author is `snippet.channelId` (a channel id, `UC...`); `channelTitle` is a display
  name, not the @handle, so it is not reported as one. Published is `snippet.publishedAt`.
- a video missing from `items` is deleted, private or never existed: YouTube does not say
  which, and answers 200 for the rest of the batch.
- errors are `{"error": {"code", "message", "errors": [{"reason", "domain", ...}]}}`:
  `quotaExceeded` (403) is the key's daily quota, spent until the next reset;
  `keyInvalid` / `API_KEY_INVALID` (400), `forbidden`, `accessNotConfigured`, `keyExpired`
  (403) are our key's problem; `rateLimitExceeded` (403 or 429) is a short-term limit.

Every request first spends a unit from the lane's `QuotaBudget` (app/workers/quota.py keeps
it in Redis, per key and Pacific day); with none left, nothing is sent and every video of
the batch is `quota_exhausted`. A `quotaExceeded` answer tells the budget it is spent.
"""

import asyncio
import hashlib
import json
import random
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol, TypeVar
from urllib.parse import quote

import httpx

from app.domain.enums import Platform, StatsSource
from app.platforms import metrics
from app.platforms.contract import (
    RAW_MAX_BYTES,
    FetchError,
    FetchErrorKind,
    FetchResult,
    VideoRef,
    VideoStats,
)
from app.platforms.fields import Json, Malformed
from app.platforms.http import Endpoint, Reply, retry_after_seconds
from app.platforms.retry import RetryPolicy

SOURCE = StatsSource.YOUTUBE
BATCH_MAX = 50  # ids per videos.list call
UNITS_PER_CALL = 1
PARTS = "statistics,snippet,contentDetails"
VIEWS_FIELD = "statistics.viewCount"
DEFAULT_BASE_URL = "https://www.googleapis.com"

_QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded", "dailyLimitExceededUnreg"})
_RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
_KEY_REASONS = frozenset(
    {
        "keyInvalid",
        "keyExpired",
        "API_KEY_INVALID",
        "API_KEY_SERVICE_BLOCKED",
        "forbidden",
        "accessNotConfigured",
        "ipRefererBlocked",
        "SERVICE_DISABLED",
    }
)


class QuotaBudget(Protocol):
    """A lane's daily units. `spend` takes one before a request (False: none left today);
    `spent` records that the API said the quota is exhausted."""

    async def spend(self, units: int) -> bool: ...

    async def spent(self) -> None: ...


R = TypeVar("R")


async def paid_call(
    budget: QuotaBudget | None, call: Callable[[], Awaitable[R]], spent: str
) -> R | FetchError:
    """One call of the Data API paid from a lane's budget: its unit is taken before it is
    sent (none left: nothing is sent, and the answer is `quota_exhausted`, `spent` saying
    whose units), and an answer that says the quota is exhausted tells the budget so."""
    if budget is not None and not await budget.spend(UNITS_PER_CALL):
        return FetchError(FetchErrorKind.QUOTA_EXHAUSTED, spent, SOURCE)
    result = await call()
    if (
        isinstance(result, FetchError)
        and result.kind is FetchErrorKind.QUOTA_EXHAUSTED
        and budget is not None
    ):
        await budget.spent()
    return result


class YouTubeClient:
    """A `StatsClient` that also fetches in batches (`fetch_many`)."""

    source = SOURCE

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        api_key: str | None,
        policy: RetryPolicy,
        *,
        budget: QuotaBudget | None = None,
        batch_size: int = BATCH_MAX,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._http = http
        self._api = Endpoint(http, base_url.rstrip("/") + "/youtube/v3/videos")
        self._key = api_key
        self._policy = policy
        self.budget = budget
        self.batch_size = max(1, min(batch_size, BATCH_MAX))
        self._sleep = sleep
        self._jitter = jitter
        self._clock = clock

    @property
    def platform(self) -> Platform:
        return Platform.YOUTUBE

    def request(self, ids: Sequence[str]) -> httpx.Request:
        query = f"part={quote(PARTS)}&id={quote(','.join(ids))}&maxResults={len(ids)}"
        if self._key:
            query += f"&key={quote(self._key, safe='')}"
        return self._api.get(query)

    async def fetch(self, video: VideoRef) -> FetchResult:
        return (await self.fetch_many([video]))[0]

    async def fetch_many(self, videos: Sequence[VideoRef]) -> list[FetchResult]:
        results: list[FetchResult] = []
        for start in range(0, len(videos), self.batch_size):
            results += await self._batch(videos[start : start + self.batch_size])
        for result in results:
            metrics.observe_fetch(result)
        return results

    async def _batch(self, videos: Sequence[VideoRef]) -> list[FetchResult]:
        ids = list(dict.fromkeys(v.post_id for v in videos))
        deadline = self._clock() + self._policy.deadline_seconds
        attempt = 0
        while True:
            attempt += 1
            answer = await self._attempt(ids, deadline)
            if isinstance(answer, dict):
                return [answer.get(v.post_id) or _missing() for v in videos]
            if answer.kind is FetchErrorKind.QUOTA_EXHAUSTED and self.budget is not None:
                await self.budget.spent()
            if not answer.transient or attempt >= self._policy.max_attempts:
                return [answer] * len(videos)
            wait = (
                min(answer.retry_after, self._policy.retry_after_cap_seconds)
                if answer.retry_after is not None
                else self._policy.backoff(attempt, self._jitter())
            )
            if self._clock() + wait >= deadline:
                return [answer] * len(videos)
            await self._sleep(wait)

    async def _attempt(
        self, ids: list[str], deadline: float
    ) -> dict[str, FetchResult] | FetchError:
        if self.budget is not None and not await self.budget.spend(UNITS_PER_CALL):
            return FetchError(
                FetchErrorKind.QUOTA_EXHAUSTED,
                "this key's daily quota is spent until midnight Pacific time",
                SOURCE,
            )
        limit = min(self._policy.attempt_timeout_seconds, max(deadline - self._clock(), 0.001))
        started = time.perf_counter()
        requested_at = datetime.now(UTC)
        answer: dict[str, FetchResult] | FetchError
        try:
            async with asyncio.timeout(limit):
                response = await self._http.send(self.request(ids))
        except TimeoutError:
            answer = FetchError(FetchErrorKind.UPSTREAM, f"no answer within {limit:g}s", SOURCE)
        except httpx.HTTPError as exc:
            answer = FetchError(FetchErrorKind.UPSTREAM, f"transport error: {exc!r}", SOURCE)
        else:
            answered_at = datetime.now(UTC)
            retry_after = retry_after_seconds(response.headers.get("retry-after"), answered_at)
            answer = parse_reply(Reply(response.status_code, response.content, retry_after))
            if isinstance(answer, dict):
                answer = {
                    k: replace(v, requested_at=requested_at, answered_at=answered_at)
                    if isinstance(v, VideoStats)
                    else v
                    for k, v in answer.items()
                }
        observed: FetchResult = (
            answer
            if isinstance(answer, FetchError)
            else VideoStats(0, 0, 0, None, None, None, None, SOURCE)
        )
        metrics.observe_request(observed, time.perf_counter() - started)
        return answer


def _missing() -> FetchError:
    return FetchError(
        FetchErrorKind.NOT_FOUND,
        "not in YouTube's answer: deleted, private or never existed",
        SOURCE,
    )


def parse_reply(reply: Reply) -> dict[str, FetchResult] | FetchError:
    """One videos.list answer: a result per video id it names (ids it leaves out are not
    found or private), or the error that stands for every id asked."""
    if reply.status != 200:
        return youtube_error(reply)
    try:
        body = Json.decode(reply.body)
        kind = body.optional_text("kind")
        if kind is not None and kind != "youtube#videoListResponse":
            raise Malformed(f"body.kind is {kind!r}")
        members = body["items"].value
        if not isinstance(members, list):
            raise Malformed("body.items is not a list")
    except Malformed as exc:
        return FetchError(FetchErrorKind.UPSTREAM, f"malformed answer: {exc}", SOURCE)
    results: dict[str, FetchResult] = {}
    for n, member in enumerate(members):
        item = Json(member, f"body.items[{n}]")
        try:
            video_id = item["id"].text()
        except Malformed:
            continue  # an item we cannot place answers for no video we asked about
        try:
            results[video_id] = parse_item(item)
        except Malformed as exc:
            results[video_id] = FetchError(
                FetchErrorKind.UPSTREAM, f"malformed answer: {exc}", SOURCE
            )
    return results


def parse_item(item: Json) -> VideoStats:
    """One `youtube#video` resource."""
    statistics = item["statistics"]
    snippet = item["snippet"]
    likes = statistics.get("likeCount")
    comments = statistics.get("commentCount")
    raw = json.dumps(item.value, ensure_ascii=False, separators=(",", ":")).encode()
    return VideoStats(
        views=statistics["viewCount"].count(),
        likes=None if likes is None else likes.count(),
        comments=0 if comments is None else comments.count(),
        shares=None,
        handle=None,
        platform_user_id=snippet["channelId"].text(),
        published_at=published_at(snippet["publishedAt"]),
        source=SOURCE,
        views_field=VIEWS_FIELD,
        raw=raw if len(raw) <= RAW_MAX_BYTES else None,
        raw_sha256=hashlib.sha256(raw).hexdigest(),
    )


def published_at(member: Json) -> datetime:
    """An RFC 3339 time of the Data API's, in UTC."""
    text = member.text()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Malformed(f"{member.path} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise Malformed(f"{member.path} has no time zone")
    return moment.astimezone(UTC)


def youtube_error(reply: Reply) -> FetchError:
    """An error answer of any YouTube Data API call (videos, playlistItems, channels), typed:
    a spent quota, a rate limit, a bad key, or an upstream failure."""
    message, reasons = _google_error(reply.body)
    text = f"HTTP {reply.status}: {message}" if message else f"HTTP {reply.status}"
    if reasons & _QUOTA_REASONS:
        return FetchError(FetchErrorKind.QUOTA_EXHAUSTED, text, SOURCE, reply.retry_after)
    if reasons & _RATE_REASONS or reply.status == 429:
        return FetchError(FetchErrorKind.RATE_LIMITED, text, SOURCE, reply.retry_after)
    if reasons & _KEY_REASONS or reply.status in (401, 403):
        return FetchError(FetchErrorKind.AUTH, text, SOURCE)
    if reply.status == 400 and "api key" in message.lower():
        return FetchError(FetchErrorKind.AUTH, text, SOURCE)
    return FetchError(FetchErrorKind.UPSTREAM, text, SOURCE, reply.retry_after)


def _google_error(body: bytes) -> tuple[str, set[str]]:
    """The message (trimmed, without HTML) and every reason a Google error body names."""
    try:
        error = Json.decode(body)["error"]
        message = re.sub(r"<[^>]*>", "", error.optional_text("message") or "").strip()[:200]
        reasons: set[str] = set()
        for part in ("errors", "details"):
            listed = error.get(part)
            if listed is not None and isinstance(listed.value, list):
                for entry in listed.value:
                    if isinstance(entry, dict) and isinstance(entry.get("reason"), str):
                        reasons.add(entry["reason"])
        return message, reasons
    except Malformed:
        return "", set()
