"""The one contract every stats provider speaks: fetch one video, get stats or a typed error.

Clients never raise for anything a provider or the network does; they return a `FetchError`.
Only programming errors raise. That keeps the worker's loop a plain `match` on the result.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from app.domain.enums import Platform, StatsSource


@dataclass(frozen=True)
class VideoRef:
    """What a client needs to ask for one video."""

    platform: Platform
    post_id: str  # TikTok numeric id, or Instagram shortcode
    handle: str | None = None  # only used to build TikTok's canonical URL


@dataclass(frozen=True)
class VideoStats:
    views: int
    likes: int
    comments: int
    shares: int | None  # Instagram does not report shares
    handle: str | None
    platform_user_id: str | None
    published_at: datetime | None  # aware, UTC
    source: StatsSource


class FetchErrorKind(StrEnum):
    NOT_FOUND = "not_found"
    PRIVATE = "private"
    RATE_LIMITED = "rate_limited"
    AUTH = "auth"
    UPSTREAM = "upstream"  # 5xx, timeout, transport failure, malformed or unexpected answer


# Worth asking again shortly: the provider may answer differently in a moment. The others are
# the provider's considered answer (or our key's problem), so asking again changes nothing.
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


@dataclass(frozen=True)
class Skipped:
    """The provider answered, but with nothing worth recording (e.g. a carousel's 0 views).
    Not an error: the post keeps its last stats and no error streak starts."""

    reason: str
    source: StatsSource


FetchResult = VideoStats | FetchError | Skipped


class StatsClient(Protocol):
    """Everything the worker needs from a platform: one video in, one result out."""

    @property
    def platform(self) -> Platform: ...

    async def fetch(self, video: VideoRef) -> FetchResult: ...


class Provider(Protocol):
    """One provider endpoint, one request per call, no retries: the building block that
    `StatsClient`s compose with the retry policy and fallbacks."""

    @property
    def source(self) -> StatsSource: ...

    async def fetch(self, video: VideoRef) -> FetchResult: ...
