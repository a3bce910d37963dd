"""Aggregates for dashboards, computed in PostgreSQL from indexed ranges: one campaign's
posts (posts_campaign_id_*), one post's snapshots (by captured_at), one campaign's days."""

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import Row, Select, case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import lifecycle
from app.domain.enums import PostStatus
from app.models import CpmTier, Creator, Post
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


def _groups(campaign_id: uuid.UUID) -> Select[Any]:
    """The campaign's posts in one pass, by status and creator (a few dozen groups): the
    totals, the counts by status, the earnings and the per-creator figures are all sums of
    these. Handles are joined to the groups, not to every post."""
    # What a tracking post with a tier would earn at its current views.
    projected = case(
        (
            Post.status == PostStatus.TRACKING,
            lifecycle.earnings_sql(Post.views, CpmTier.cpm, CpmTier.cap),
        )
    )
    g = (
        select(
            Post.status,
            Post.creator_id,
            func.count().label("posts"),
            func.sum(Post.views).label("views"),
            func.sum(Post.likes).label("likes"),
            func.sum(Post.comments).label("comments"),
            func.sum(func.coalesce(Post.shares, 0)).label("shares"),
            func.sum(func.coalesce(Post.earnings, 0)).label("earnings"),
            func.coalesce(func.sum(projected), 0).label("projected"),
        )
        .outerjoin(CpmTier, CpmTier.id == Post.cpm_tier_id)
        .where(Post.campaign_id == campaign_id)
        .group_by(Post.status, Post.creator_id)
        .subquery("g")
    )
    return select(g, Creator.handle).join(Creator, Creator.id == g.c.creator_id)


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
    groups = (await session.execute(_groups(campaign_id))).all()
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
