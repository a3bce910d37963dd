"""Synthetic videos: every id gets a deterministic creator, publish time and growth curve, so
the same id always tells the same story and its stats grow as the sandbox clock moves.

Publish times are spread over the 40 days before the sandbox's anchor (by default the start
of the UTC day it started on), so some videos are past the 7-day decision and some past the
30-day refresh window. Curves (share of ids):
- steady (45%): 3k-300k views, most of them in the first few days;
- slow starter (20%): 5k-150k views, taking off after 4 to 10 days;
- viral (10%): 0.5M-20M views within a day or two;
- stalled (25%): levels off between 120 and 950 views, below the 1,000 minimum.
"""

import hashlib
import math
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from app.domain.enums import Platform
from app.platforms.sandbox.magic import (
    INTEGRITY_EVENT_AFTER,
    OTHER_AUTHOR_HANDLE,
    PURGED_SHARE,
    RENAME_AFTER,
    SHAPED,
    SHAPED_PUBLISHED_BEFORE_ANCHOR,
    SPIKE_AFTER,
    SPIKE_BEFORE,
    Magic,
    magic_of,
    published_hours,
    rename_handles,
    variant_of,
)
from app.platforms.urls import media_id_to_shortcode

SPREAD = timedelta(days=40)
_TIKTOK_HANDLES = (
    "sandbox_user",
    "mia.moves",
    "lena_creates",
    "chef.tomas",
    "nora_lifts",
    "kai.codes",
    "ines_travels",
    "dev.daily",
)
_INSTAGRAM_HANDLES = (
    "sandbox.user",
    "lena.moves",
    "tomas_cooks",
    "nora.lifts",
    "kai_builds",
    "ines.away",
)

# YouTube handles may hold '-'.
_YOUTUBE_HANDLES = (
    "sandbox-shorts",
    "mia-moves",
    "chef.tomas",
    "nora_lifts",
    "kai-codes",
    "ines.travels",
)
_HANDLES = {
    Platform.TIKTOK: _TIKTOK_HANDLES,
    Platform.INSTAGRAM: _INSTAGRAM_HANDLES,
    Platform.YOUTUBE: _YOUTUBE_HANDLES,
}
_BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class Curve(StrEnum):
    STEADY = "steady"
    SLOW_STARTER = "slow_starter"
    VIRAL = "viral"
    STALLED = "stalled"


@dataclass(frozen=True)
class Counts:
    views: int
    likes: int
    comments: int
    shares: int


@dataclass(frozen=True)
class SyntheticVideo:
    platform: Platform
    post_id: str
    handle: str
    user_id: str
    created_at: datetime
    curve: Curve
    ceiling: int  # the views it levels off at
    scale_hours: float  # how fast it gets there
    midpoint_hours: float  # slow starters: when growth peaks
    like_rate: float
    comment_rate: float
    share_rate: float
    # From this moment on, views follow `changed_views` (a purge or a spike; magic ids).
    changes_at: datetime | None = None
    views_before: int | None = None  # a cap on views until `changes_at` (a spike's base)
    share_after: float = 1.0  # the share of its views reported from `changes_at` on

    @property
    def create_time(self) -> int:
        return int(self.created_at.timestamp())

    def counts_at(self, now: datetime) -> Counts:
        hours = (now - self.created_at).total_seconds() / 3600
        views = math.floor(self.ceiling * self._progress(hours))
        if self.changes_at is not None:
            if now < self.changes_at and self.views_before is not None:
                views = min(views, self.views_before)
            elif now >= self.changes_at:
                views = math.floor(views * self.share_after)
        return Counts(
            views=views,
            likes=math.floor(views * self.like_rate),
            comments=math.floor(views * self.comment_rate),
            shares=math.floor(views * self.share_rate),
        )

    def _progress(self, hours: float) -> float:
        """The share of the ceiling reached after `hours`: 0 at publish, rising to 1, never
        falling, so stats only grow."""
        if hours <= 0:
            return 0.0
        if self.curve is Curve.SLOW_STARTER:

            def logistic(h: float) -> float:
                return 1 / (1 + math.exp(-(h - self.midpoint_hours) / self.scale_hours))

            start = logistic(0)
            return (logistic(hours) - start) / (1 - start)
        return 1 - math.exp(-hours / self.scale_hours)


def synthetic_video(
    platform: Platform, post_id: str, anchor: datetime, *, curve: "Curve | None" = None
) -> SyntheticVideo:
    rng = random.Random(hashlib.sha256(f"{platform}:{post_id}".encode()).digest())
    drawn = rng.choices(list(Curve), weights=(45, 20, 10, 25))[0]
    curve = curve or drawn
    match curve:
        case Curve.STEADY:
            ceiling, scale = _log_uniform(rng, 3_000, 300_000), rng.uniform(12, 72)
        case Curve.SLOW_STARTER:
            ceiling, scale = _log_uniform(rng, 5_000, 150_000), rng.uniform(12, 36)
        case Curve.VIRAL:
            ceiling, scale = _log_uniform(rng, 500_000, 20_000_000), rng.uniform(6, 24)
        case Curve.STALLED:
            ceiling, scale = rng.randint(120, 950), rng.uniform(6, 48)
    handle = rng.choice(_HANDLES[platform])
    return SyntheticVideo(
        platform=platform,
        post_id=post_id,
        handle=handle,
        user_id=user_id(platform, handle),
        # Whole seconds: providers report unix seconds, so this is exactly what they say.
        created_at=(anchor - SPREAD * rng.random()).replace(microsecond=0),
        curve=curve,
        ceiling=ceiling,
        scale_hours=scale,
        midpoint_hours=rng.uniform(96, 240),
        like_rate=rng.uniform(0.03, 0.12),
        comment_rate=rng.uniform(0.001, 0.01),
        share_rate=rng.uniform(0.0005, 0.02),
    )


def video_at(platform: Platform, post_id: str, anchor: datetime, now: datetime) -> SyntheticVideo:
    """What the sandbox says about an id at `now`: the synthetic video, with the author or
    publish time a shaping magic id chooses (`magic.SHAPED`)."""
    magic = magic_of(platform, post_id)
    if magic not in SHAPED:
        return synthetic_video(platform, post_id, anchor)
    video = synthetic_video(platform, post_id, anchor, curve=Curve.STEADY)
    variant = variant_of(platform, post_id) or 0
    shaped_at = anchor - SHAPED_PUBLISHED_BEFORE_ANCHOR
    match magic:
        case Magic.OTHER_AUTHOR:
            return replace(
                video,
                handle=OTHER_AUTHOR_HANDLE,
                user_id=user_id(platform, OTHER_AUTHOR_HANDLE),
                created_at=shaped_at,
            )
        case Magic.RENAMES:
            before, after = rename_handles(variant)
            return replace(
                video,
                handle=after if now >= anchor + RENAME_AFTER else before,
                user_id=user_id(platform, before),  # the account's, through the rename
                created_at=shaped_at,
            )
        case Magic.PURGED:
            return replace(
                video,
                created_at=shaped_at,
                changes_at=anchor + INTEGRITY_EVENT_AFTER,
                share_after=PURGED_SHARE,
            )
        case Magic.SPIKE:
            return replace(
                video,
                created_at=shaped_at,
                ceiling=SPIKE_AFTER,
                scale_hours=1,
                changes_at=anchor + INTEGRITY_EVENT_AFTER,
                views_before=SPIKE_BEFORE,
            )
        case Magic.BOTTED:
            return replace(
                video,
                created_at=shaped_at,
                ceiling=50_000,
                scale_hours=1,
                like_rate=0.0002,
                comment_rate=0,
            )
        case _:  # PUBLISHED
            return replace(video, created_at=anchor - timedelta(hours=published_hours(variant)))


def user_id(platform: Platform, handle: str) -> str:
    """Stable per handle, so a creator keeps one id across all their videos."""
    digest = hashlib.sha256(f"{platform}:@{handle}".encode()).digest()
    number = int.from_bytes(digest[:8])
    if platform is Platform.TIKTOK:
        return str(6_800_000_000_000_000_000 + number % 10**17)
    if platform is Platform.YOUTUBE:  # a channel id: UC and 22 base64url characters
        return "UC" + "".join(_BASE64URL[b % 64] for b in digest[8:30])
    return str(10_000_000_000 + number % 10**11)


# Short links lead to a video by this account on each platform, so the README's example
# (`vm.tiktok.com/ZMabc123/` added for `@sandbox_user`) is the creator's own video.
SHORT_LINK_AUTHORS = {
    Platform.TIKTOK: "sandbox_user",
    Platform.INSTAGRAM: "sandbox.user",
    Platform.YOUTUBE: "sandbox-shorts",
}


def short_link_tiktok_id(code: str) -> str:
    """The video a TikTok short link points at: a real-looking 19-digit id, posted by
    `SHORT_LINK_AUTHORS[TIKTOK]`."""
    return _authored(Platform.TIKTOK, f"tiktok-short:{code}")


def short_link_shortcode(code: str) -> str:
    """The post an Instagram share link points at: an 11-character shortcode, posted by
    `SHORT_LINK_AUTHORS[INSTAGRAM]`."""
    return _authored(Platform.INSTAGRAM, f"instagram-short:{code}")


def videos_by(platform: Platform, handle: str, n: int, seed: str = "") -> list[str]:
    """`n` distinct ordinary (not magic) video ids whose author is `handle`, one of the
    sandbox's accounts: several videos of one creator, for tests and demos."""
    return [_authored(platform, f"by:{handle}:{seed}:{i}", handle) for i in range(n)]


def _authored(platform: Platform, seed: str, handle: str | None = None) -> str:
    """The first id derived from `seed` whose synthetic author is `handle` (by default the
    short links' author). One id in eight or fewer qualifies, so this stops quickly."""
    handle = handle or SHORT_LINK_AUTHORS[platform]
    if handle not in _HANDLES[platform]:
        raise ValueError(f"@{handle} posts no synthetic {platform} videos")
    for attempt in range(10_000):
        digest = int.from_bytes(hashlib.sha256(f"{seed}:{attempt}".encode()).digest()[:8])
        if platform is Platform.TIKTOK:
            post_id = str(7_300_000_000_000_000_000 + digest % 10**17)
        elif platform is Platform.YOUTUBE:
            post_id = youtube_video_id(digest)
        else:
            post_id = media_id_to_shortcode(2**62 + digest % 2**62)
        # The author depends on the id alone, not on the anchor.
        if synthetic_video(platform, post_id, _ANY_ANCHOR).handle == handle:
            return post_id
    raise AssertionError("unreachable: every account posts one id in eight or fewer")


_ANY_ANCHOR = datetime(2026, 1, 1, tzinfo=UTC)


def youtube_video_id(number: int) -> str:
    """A 64-bit number as a YouTube video id: 11 base64url characters, the last one's two
    low bits zero (the canonical form `app.platforms.urls` keeps)."""
    value = (number % 2**64) << 2
    return "".join(_BASE64URL[(value >> (6 * (10 - i))) & 63] for i in range(11))


def start_of_day(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _log_uniform(rng: random.Random, low: int, high: int) -> int:
    return round(math.exp(rng.uniform(math.log(low), math.log(high))))
