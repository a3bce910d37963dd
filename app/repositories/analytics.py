"""Aggregates for dashboards, computed in PostgreSQL from indexed ranges: one campaign's
posts (posts_campaign_id_*), one post's snapshots (by captured_at), one campaign's days.
services/analytics.py adds them up into the report."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, Literal

from sqlalchemy import Row, Select, case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import lifecycle
from app.domain.enums import PostStatus
from app.models import CpmTier, Creator, Post

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
) -> Sequence[Row[Any]]:
    """One row per bucket: its start (`at`) and the highest counts seen in it."""
    rows = await session.execute(
        _SERIES, {"bucket": bucket, "post": post_id, "start": start, "end": end}
    )
    return rows.all()


def _groups(campaign_id: uuid.UUID) -> Select[tuple[Any, ...]]:
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


_TOP = text(
    """
    SELECT id, creator_id, platform, platform_post_id, status, views FROM posts
    WHERE campaign_id = :campaign AND status <> 'rejected'
    ORDER BY views DESC, id LIMIT :limit
    """
)


async def campaign_groups(session: AsyncSession, campaign_id: uuid.UUID) -> Sequence[Row[Any]]:
    rows: Sequence[Row[Any]] = (await session.execute(_groups(campaign_id))).all()
    return rows


async def daily_gains(
    session: AsyncSession, campaign_id: uuid.UUID, last: date
) -> list[tuple[date, int]]:
    rows = await session.execute(_DAILY, {"campaign": campaign_id, "last": last})
    return [(row.day, row.views_gained) for row in rows]


async def top_posts(session: AsyncSession, campaign_id: uuid.UUID, top: int) -> Sequence[Row[Any]]:
    return (await session.execute(_TOP, {"campaign": campaign_id, "limit": top})).all()
