"""Sanity on fetched numbers, as pure functions: when a fetch's views are too far below what
we knew to be applied unconfirmed, and the three integrity flags. Thresholds come from
settings (`Thresholds.from_settings`); every comparison is exact (Decimal), and each rule
says on which side of its threshold the threshold itself falls.

Flags, unlike holds, do not stop payment, unless a campaign lists the code in
`hold_on_flags`. A flag is raised once per post and code: a resolved one is not raised
again (a person has judged it)."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, and_

from app.domain.enums import PostStatus
from app.settings import Settings


class FlagCode(StrEnum):
    VIEWS_DROPPED = "views_dropped"  # a decided post lost views below what it was paid on
    VIEW_SPIKE = "view_spike"  # views multiplied within a short window
    LOW_ENGAGEMENT = "low_engagement"  # many views, almost no likes or comments


@dataclass(frozen=True)
class Thresholds:
    suspicious_drop_percent: Decimal = Decimal(25)
    views_dropped_percent: Decimal = Decimal(20)
    spike_factor: Decimal = Decimal(10)
    spike_window: timedelta = timedelta(hours=24)
    spike_min_views: int = 10_000
    low_engagement_ratio: Decimal = Decimal("0.001")
    low_engagement_min_views: int = 10_000
    recheck_after: timedelta = timedelta(minutes=5)  # a suspicious drop is asked again then

    @classmethod
    def from_settings(cls, settings: Settings) -> "Thresholds":
        return cls(
            suspicious_drop_percent=settings.suspicious_drop_percent,
            views_dropped_percent=settings.views_dropped_percent,
            spike_factor=settings.spike_factor,
            spike_window=timedelta(hours=settings.spike_window_hours),
            spike_min_views=settings.spike_min_views,
            low_engagement_ratio=settings.low_engagement_ratio,
            low_engagement_min_views=settings.low_engagement_min_views,
            recheck_after=timedelta(seconds=settings.suspicious_drop_recheck_seconds),
        )


def falls_more_than(views: int, reference: int, percent: Decimal) -> bool:
    """Whether `views` is more than `percent`% below `reference` (exactly that much is not)."""
    return Decimal(views) * 100 < Decimal(reference) * (100 - percent)


def suspicious_drop(views: int, last_known: int, t: Thresholds) -> bool:
    """A fetch whose views fall this far below the last known count is not applied until a
    second answer confirms it: rate-limited scrapers answer 0, and platforms glitch."""
    return falls_more_than(views, last_known, t.suspicious_drop_percent)


@dataclass(frozen=True)
class Observed:
    """One snapshot, as a flag's evidence names it."""

    snapshot_id: int | None
    views: int
    captured_at: datetime

    def as_evidence(self) -> dict[str, Any]:
        return {
            "snapshot_id": self.snapshot_id,
            "views": self.views,
            "captured_at": self.captured_at.isoformat(),
        }


@dataclass(frozen=True)
class Raised:
    code: FlagCode
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def snapshot_ids(self) -> list[int]:
        return [
            s["snapshot_id"] for s in self.evidence.get("snapshots", []) if s.get("snapshot_id")
        ]


def views_dropped(
    status: PostStatus, now: Observed, locked_views: int | None, t: Thresholds
) -> Raised | None:
    """A finalized or paid post whose views fell more than VIEWS_DROPPED_PERCENT below the
    views it was paid on: the platform purged views after the fact."""
    if status not in (PostStatus.FINALIZED, PostStatus.PAID) or not locked_views:
        return None
    if not falls_more_than(now.views, locked_views, t.views_dropped_percent):
        return None
    return Raised(
        FlagCode.VIEWS_DROPPED,
        f"{now.views:,} views now, more than {t.views_dropped_percent}% below the "
        f"{locked_views:,} locked at its decision.",
        {"locked_views": locked_views, "snapshots": [now.as_evidence()]},
    )


def in_spike_base(views: int, captured_at: datetime, since: datetime, until: datetime) -> bool:
    """Whether an applied snapshot can be the base a spike grew from: seen in [since, until)
    with views above zero. The base is the smallest such count (the earliest of equals)."""
    return since <= captured_at < until and views > 0


def in_spike_base_sql(
    views: SQLColumnExpression[Any],
    captured_at: SQLColumnExpression[Any],
    since: datetime,
    until: datetime,
) -> ColumnElement[bool]:
    """`in_spike_base(...)`, in SQL."""
    return and_(captured_at >= since, captured_at < until, views > 0)


def spike_base_order_sql(
    views: SQLColumnExpression[Any], captured_at: SQLColumnExpression[Any]
) -> list[SQLColumnExpression[Any]]:
    """The order that puts a post's spike base first: the smallest count, the earliest."""
    return [views, captured_at]


def view_spike(now: Observed, base: Observed | None, t: Thresholds) -> Raised | None:
    """Views at least SPIKE_FACTOR times the smallest count seen within SPIKE_WINDOW before,
    and at least SPIKE_MIN_VIEWS. `base` is that smallest count above zero (a count of 0,
    a video not yet served, is no base to grow from); None when the window has none."""
    if base is None or base.views <= 0 or now.views < t.spike_min_views:
        return None
    if now.captured_at - base.captured_at > t.spike_window:
        return None
    if Decimal(now.views) < Decimal(base.views) * t.spike_factor:
        return None
    hours = (now.captured_at - base.captured_at).total_seconds() / 3600
    return Raised(
        FlagCode.VIEW_SPIKE,
        f"Views grew from {base.views:,} to {now.views:,} in {hours:.1f} h (at least "
        f"{t.spike_factor}x within {t.spike_window.total_seconds() / 3600:g} h).",
        {"factor": str(t.spike_factor), "snapshots": [base.as_evidence(), now.as_evidence()]},
    )


def low_engagement(now: Observed, likes: int | None, comments: int, t: Thresholds) -> Raised | None:
    """At least LOW_ENGAGEMENT_MIN_VIEWS views with (likes + comments) / views below
    LOW_ENGAGEMENT_RATIO (exactly the ratio is not low). Unknown likes (a YouTube channel
    that hides them) say nothing about engagement: no flag."""
    if likes is None or now.views < t.low_engagement_min_views or now.views <= 0:
        return None
    if Decimal(likes + comments) >= Decimal(now.views) * t.low_engagement_ratio:
        return None
    return Raised(
        FlagCode.LOW_ENGAGEMENT,
        f"{likes + comments:,} likes and comments on {now.views:,} views, below "
        f"{t.low_engagement_ratio} per view.",
        {"likes": likes, "comments": comments, "snapshots": [now.as_evidence()]},
    )


def called_for(
    status: PostStatus,
    now: Observed,
    locked_views: int | None,
    base: Observed | None,
    likes: int | None,
    comments: int,
    t: Thresholds,
) -> list[Raised]:
    """Every flag one applied fetch calls for (whether the post has it already is the
    caller's to check). `base` is `view_spike`'s."""
    found = (
        views_dropped(status, now, locked_views, t),
        view_spike(now, base, t),
        low_engagement(now, likes, comments, t),
    )
    return [raised for raised in found if raised is not None]
