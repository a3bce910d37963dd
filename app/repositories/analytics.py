"""Aggregates for dashboards, computed in PostgreSQL from indexed ranges: one campaign's
posts (posts_campaign_id_*), one post's or one campaign's snapshots (by captured_at)."""

import uuid
from datetime import datetime
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

# Views gained per day: each post's highest count that day minus its highest the day before
# it was last seen (for a post's first day in range, its last count before the range).
_DAILY = text(
    """
    WITH per_day AS (
        SELECT post_id, (date_trunc('day', captured_at, 'UTC'))::date AS day, max(views) AS views
        FROM stats_snapshots
        WHERE campaign_id = :campaign AND captured_at >= :since
        GROUP BY 1, 2
    ), before AS (
        SELECT d.post_id, coalesce((
            SELECT s.views FROM stats_snapshots s
            WHERE s.post_id = d.post_id AND s.captured_at < :since
            ORDER BY s.captured_at DESC LIMIT 1
        ), 0) AS views
        FROM (SELECT DISTINCT post_id FROM per_day) d
    ), gains AS (
        SELECT p.day, p.views - coalesce(
            lag(p.views) OVER (PARTITION BY p.post_id ORDER BY p.day), b.views
        ) AS gained
        FROM per_day p JOIN before b USING (post_id)
    )
    SELECT day, sum(gained)::bigint AS gained, (SELECT coalesce(sum(views), 0) FROM before) AS base
    FROM gains GROUP BY day ORDER BY day
    """
)

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
    session: AsyncSession, campaign_id: uuid.UUID, currency: str, since: datetime, top: int
) -> CampaignAnalytics:
    args = {"campaign": campaign_id}
    by_status = (await session.execute(_BY_STATUS, args)).all()
    counted = [r for r in by_status if r.status != "rejected"]
    money = {r.status: Decimal(r.earnings) for r in by_status}
    daily_rows = (await session.execute(_DAILY, {**args, "since": since})).all()
    running = int(daily_rows[0].base) if daily_rows else 0
    daily: list[DailyViews] = []
    for row in daily_rows:
        running += int(row.gained)
        daily.append(DailyViews(day=row.day, views_gained=int(row.gained), total_views=running))
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
        daily_views=daily,
        top_posts=[
            TopPost.model_validate(r._mapping)
            for r in await session.execute(_TOP, {**args, "limit": top})
        ],
        creators=[
            CreatorTotals.model_validate(r._mapping) for r in await session.execute(_CREATORS, args)
        ],
    )
