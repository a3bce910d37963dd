"""Aggregates for dashboards, computed in PostgreSQL from indexed ranges: one campaign's
posts (posts_campaign_id_*), one post's snapshots (by captured_at), one campaign's days."""

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus
from app.schemas.analytics import (
    CampaignAnalytics,
    CreatorTotals,
    DailyViews,
    Earnings,
    StatsPoint,
    TopPost,
    Totals,
)

_SERIES = text(
    """
    SELECT date_trunc(:bucket, captured_at, 'UTC') AS at, max(views) AS views,
           max(likes) AS likes, max(comments) AS comments, max(shares) AS shares
    FROM stats_snapshots
    WHERE post_id = :post AND captured_at >= :start AND captured_at < :end
    GROUP BY 1 ORDER BY 1
    """
)


async def post_series(
    session: AsyncSession,
    post_id: uuid.UUID,
    start: datetime,
    end: datetime,
    bucket: Literal["hour", "day"],
) -> list[StatsPoint]:
    rows = await session.execute(
        _SERIES, {"bucket": bucket, "post": post_id, "start": start, "end": end}
    )
    return [StatsPoint.model_validate(r._mapping) for r in rows]


# The campaign's posts in one pass, by status and creator (a few dozen groups): the totals,
# the counts by status, the earnings and the per-creator figures are all sums of these.
# Handles are joined to the groups, not to every post.
_GROUPS = text(
    """
    WITH g AS (
        SELECT p.status, p.creator_id, count(*) AS posts, sum(p.views) AS views,
               sum(p.likes) AS likes, sum(p.comments) AS comments,
               sum(coalesce(p.shares, 0)) AS shares, sum(coalesce(p.earnings, 0)) AS earnings,
               -- What tracking posts with a tier would earn at their current views.
               coalesce(sum(CASE WHEN p.status = 'tracking' THEN
                   CASE WHEN t.cap IS NULL THEN round(p.views * t.cpm / 1000, 2)
                        ELSE least(round(p.views * t.cpm / 1000, 2), t.cap) END END), 0)
                   AS projected
        FROM posts p LEFT JOIN cpm_tiers t ON t.id = p.cpm_tier_id
        WHERE p.campaign_id = :campaign
        GROUP BY p.status, p.creator_id
    )
    SELECT g.*, c.handle FROM g JOIN creators c ON c.id = g.creator_id
    """
)

# Every day the campaign gained views on (a few hundred rows at most), earliest first: the
# days before the window give its starting total.
_DAILY = text(
    """
    SELECT day, views_gained FROM campaign_daily_views
    WHERE campaign_id = :campaign AND day <= :last ORDER BY day
    """
)


def daily_series(gains: list[tuple[date, int]], first: date, last: date) -> list[DailyViews]:
    """One entry per day from `first` to `last`, days without gains included, each with the
    campaign's total views at its end. `gains` is ordered by day."""
    running = sum(gained for day, gained in gains if day < first)
    by_day = dict(gains)
    series = []
    for n in range((last - first).days + 1):
        day = first + timedelta(days=n)
        gained = by_day.get(day, 0)
        running += gained
        series.append(DailyViews(day=day, views_gained=gained, total_views=running))
    return series


_TOP = text(
    """
    SELECT id, creator_id, platform, platform_post_id, status, views FROM posts
    WHERE campaign_id = :campaign AND status <> 'rejected'
    ORDER BY views DESC, id LIMIT :limit
    """
)


async def campaign(
    session: AsyncSession,
    campaign_id: uuid.UUID,
    currency: str,
    days: tuple[date, date],
    top: int,
) -> CampaignAnalytics:
    """The campaign's report, with its daily series over `days` (first and last, UTC)."""
    args = {"campaign": campaign_id}
    groups = (await session.execute(_GROUPS, args)).all()
    counted = [g for g in groups if g.status != PostStatus.REJECTED]
    first, last = days
    rows = await session.execute(_DAILY, {**args, "last": last})
    gains = [(row.day, row.views_gained) for row in rows]
    return CampaignAnalytics(
        campaign_id=campaign_id,
        currency=currency,
        totals=Totals(
            views=sum(g.views for g in counted),
            likes=sum(g.likes for g in counted),
            comments=sum(g.comments for g in counted),
            shares=sum(g.shares for g in counted),
        ),
        posts_by_status=_count_by_status(groups),
        earnings=Earnings(
            finalized=_money(g.earnings for g in groups if g.status == PostStatus.FINALIZED),
            paid=_money(g.earnings for g in groups if g.status == PostStatus.PAID),
            pending=_money(g.projected for g in groups),
        ),
        daily_views=daily_series(gains, first, last),
        top_posts=[
            TopPost.model_validate(r._mapping)
            for r in await session.execute(_TOP, {**args, "limit": top})
        ],
        creators=_per_creator(counted),
    )


def _money(amounts: Iterable[Decimal]) -> Decimal:
    return sum(amounts, Decimal("0.00"))


def _count_by_status(groups: Sequence[Row[Any]]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for g in groups:
        counts[g.status] += g.posts
    return dict(counts)


def _per_creator(groups: Sequence[Row[Any]]) -> list[CreatorTotals]:
    """Most views first; ties by creator id."""
    by_creator: dict[uuid.UUID, list[Row[Any]]] = defaultdict(list)
    for g in groups:
        by_creator[g.creator_id].append(g)
    creators = [
        CreatorTotals(
            creator_id=creator_id,
            handle=rows[0].handle,
            posts=sum(r.posts for r in rows),
            views=sum(r.views for r in rows),
            likes=sum(r.likes for r in rows),
            comments=sum(r.comments for r in rows),
            shares=sum(r.shares for r in rows),
            earnings=_money(r.earnings for r in rows),
        )
        for creator_id, rows in by_creator.items()
    ]
    return sorted(creators, key=lambda c: (-c.views, c.creator_id))
