"""The one contract every stats provider speaks: fetch one video, get stats or a typed error.

Clients never raise for anything a provider or the network does; they return a `FetchError`.
Only programming errors raise. That keeps the worker's loop a plain `match` on the result.

Every result names its outcome with `outcome_code(result)`, one of a closed set the writer
records on the post as its last fetch outcome (`OUTCOME_CODES`):

    refreshed         stats read (VideoStats)
    skipped_carousel  an Instagram carousel reporting 0 views: nothing to record (Skipped)
    skipped_photo     an Instagram photo, which has no view count (Skipped)
    not_found         deleted, or never existed
    private           the video or the whole account is private
    withheld          exists, but the platform withholds it where the provider asks from
                      (TikTok 10204 `cross_border_violation_ur`); not a deletion
    under_review      exists, held back while the platform reviews it or its author
                      (TikTok 10204 `..._reviewing`); not a deletion
    rate_limited      asked too fast; asking again shortly may work
    quota_exhausted   the plan's request quota is spent until it resets (tikwm's daily
                      "Free Api Limit", a RapidAPI plan quota); asking again soon will not work
    auth              our key is refused (invalid, not subscribed)
    upstream_error    5xx, timeout, transport failure, malformed or unexpected answer
"""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from app.domain.enums import Platform, StatsSource


@dataclass(frozen=True)
class VideoRef:
    """What a client needs to ask for one video."""

    platform: Platform
    post_id: str  # TikTok numeric id, Instagram shortcode, or YouTube video id
    handle: str | None = None  # only used to build TikTok's canonical URL


@dataclass(frozen=True)
class VideoStats:
    views: int
    likes: int | None  # None: unknown (YouTube leaves likeCount out when likes are hidden)
    comments: int
    shares: int | None  # Instagram does not report shares
    handle: str | None
    platform_user_id: str | None
    published_at: datetime | None  # aware, UTC
    source: StatsSource
    # Where in the answer `views` was read: "play_count" (tikwm), "statsV2.playCount" or
    # "stats.playCount" (TikTok item detail; `stats` is rounded and saturates),
    # "video_play_count" or "video_view_count" (Instagram). None when built by hand.
    views_field: str | None = None
    # The provider's answer as it came (the JSON text), for provenance. Not compared and not
    # shown in reprs; None when the body was over `RAW_MAX_BYTES` (the hash is still kept).
    raw: bytes | None = field(default=None, compare=False, repr=False)
    raw_sha256: str | None = field(default=None, compare=False)  # hex, of the whole body
    # When the request that got this answer went out and its answer came back (wall clock).
    requested_at: datetime | None = field(default=None, compare=False)
    answered_at: datetime | None = field(default=None, compare=False)


# Bodies above this are not carried (the writer batches up to a thousand results); their
# hash is. Real answers are 1-100 KB.
RAW_MAX_BYTES = 512 * 1024


class FetchErrorKind(StrEnum):
    NOT_FOUND = "not_found"
    PRIVATE = "private"
    WITHHELD = "withheld"  # region-blocked: the video exists
    UNDER_REVIEW = "under_review"  # held back during a review: the video exists
    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"  # spent until the plan's quota resets
    AUTH = "auth"
    UPSTREAM = "upstream"  # 5xx, timeout, transport failure, malformed or unexpected answer


# Worth asking again shortly: the provider may answer differently in a moment. The others are
# the provider's considered answer (or our key's or plan's problem), so asking again within
# seconds changes nothing.
TRANSIENT_KINDS = frozenset({FetchErrorKind.RATE_LIMITED, FetchErrorKind.UPSTREAM})


@dataclass(frozen=True)
class FetchError:
    kind: FetchErrorKind
    message: str
    source: StatsSource
    retry_after: float | None = None  # seconds, when the provider said how long to wait

    @property
    def transient(self) -> bool:
        return self.kind in TRANSIENT_KINDS


class SkipCode(StrEnum):
    """Why an answer had nothing to record; the value is the outcome code."""

    CAROUSEL = "skipped_carousel"  # Instagram carousel reporting 0 views
    PHOTO = "skipped_photo"  # Instagram photo: no view count at all


@dataclass(frozen=True)
class Skipped:
    """The provider answered, but with nothing worth recording (e.g. a carousel's 0 views).
    Not an error: the post keeps its last stats and no error streak starts."""

    reason: str
    source: StatsSource
    code: SkipCode


FetchResult = VideoStats | FetchError | Skipped

REFRESHED = "refreshed"
_ERROR_OUTCOMES: dict[FetchErrorKind, str] = {
    FetchErrorKind.NOT_FOUND: "not_found",
    FetchErrorKind.PRIVATE: "private",
    FetchErrorKind.WITHHELD: "withheld",
    FetchErrorKind.UNDER_REVIEW: "under_review",
    FetchErrorKind.RATE_LIMITED: "rate_limited",
    FetchErrorKind.QUOTA_EXHAUSTED: "quota_exhausted",
    FetchErrorKind.AUTH: "auth",
    FetchErrorKind.UPSTREAM: "upstream_error",
}
# The closed set `outcome_code` answers from (documented in this module's docstring).
OUTCOME_CODES: frozenset[str] = frozenset(
    {REFRESHED, *(code.value for code in SkipCode), *_ERROR_OUTCOMES.values()}
)


def outcome_code(result: FetchResult) -> str:
    """The per-fetch outcome to record on the post: one of `OUTCOME_CODES`."""
    match result:
        case VideoStats():
            return REFRESHED
        case Skipped(code=code):
            return code.value
        case FetchError(kind=kind):
            return _ERROR_OUTCOMES[kind]


class StatsClient(Protocol):
    """Everything the worker needs from a platform: one video in, one result out."""

    @property
    def platform(self) -> Platform: ...

    async def fetch(self, video: VideoRef) -> FetchResult: ...


@runtime_checkable
class BatchClient(Protocol):
    """A platform whose API answers many videos in one request (YouTube: up to 50 per
    videos.list call): the worker hands it a whole batch."""

    async def fetch_many(self, videos: Sequence[VideoRef]) -> list[FetchResult]: ...


class Provider(Protocol):
    """One provider endpoint, one request per call, no retries: the building block that
    `StatsClient`s compose with the retry policy and fallbacks."""

    @property
    def source(self) -> StatsSource: ...

    async def fetch(self, video: VideoRef) -> FetchResult: ...
