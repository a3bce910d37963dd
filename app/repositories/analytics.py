"""Aggregates for dashboards, computed in PostgreSQL from indexed ranges: one campaign's
posts (posts_campaign_id_*), one post's snapshots (by captured_at), one campaign's days."""

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

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


_BY_STATUS = text(
    """
    SELECT status, count(*) AS posts, sum(views) AS views, sum(likes) AS likes,
           sum(comments) AS comments, sum(coalesce(shares, 0)) AS shares,
           sum(coalesce(earnings, 0)) AS earnings
    FROM posts WHERE campaign_id = :campaign GROUP BY status
    """
)

_PROJECTED = text(
    """
    SELECT coalesce(sum(CASE WHEN t.cap IS NULL THEN round(p.views * t.cpm / 1000, 2)
                             ELSE least(round(p.views * t.cpm / 1000, 2), t.cap) END), 0)
    FROM posts p JOIN cpm_tiers t ON t.id = p.cpm_tier_id
    WHERE p.campaign_id = :campaign AND p.status = 'tracking'
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

_CREATORS = text(
    """
    SELECT p.creator_id, c.handle, count(*) AS posts, sum(p.views) AS views,
           sum(p.likes) AS likes, sum(p.comments) AS comments,
           sum(coalesce(p.shares, 0)) AS shares, sum(coalesce(p.earnings, 0)) AS earnings
    FROM posts p JOIN creators c ON c.id = p.creator_id
    WHERE p.campaign_id = :campaign AND p.status <> 'rejected'
    GROUP BY p.creator_id, c.handle ORDER BY views DESC, p.creator_id
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
    by_status = (await session.execute(_BY_STATUS, args)).all()
    counted = [r for r in by_status if r.status != "rejected"]
    money = {r.status: Decimal(r.earnings) for r in by_status}
    first, last = days
    rows = await session.execute(_DAILY, {**args, "last": last})
    gains = [(row.day, row.views_gained) for row in rows]
    return CampaignAnalytics(
        campaign_id=campaign_id,
        currency=currency,
        totals=Totals(
            views=sum(r.views for r in counted),
            likes=sum(r.likes for r in counted),
            comments=sum(r.comments for r in counted),
            shares=sum(r.shares for r in counted),
        ),
        posts_by_status={r.status: r.posts for r in by_status},
        earnings=Earnings(
            finalized=money.get("finalized", Decimal("0.00")),
            paid=money.get("paid", Decimal("0.00")),
            pending=Decimal(await session.scalar(_PROJECTED, args) or 0),
        ),
        daily_views=daily_series(gains, first, last),
        top_posts=[
            TopPost.model_validate(r._mapping)
            for r in await session.execute(_TOP, {**args, "limit": top})
        ],
        creators=[
            CreatorTotals.model_validate(r._mapping) for r in await session.execute(_CREATORS, args)
        ],
    )
