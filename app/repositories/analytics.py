"""Aggregates for dashboards, computed in PostgreSQL from indexed ranges: one campaign's
posts (posts_campaign_id_*), one post's snapshots (by captured_at), one campaign's days.
services/analytics.py adds them up into the report."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Row, Select, and_, case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import lifecycle, policy_sql
from app.domain.enums import PostStatus
from app.domain.errors import InvalidCursor, InvalidInput
from app.domain.integrity import FlagCode
from app.domain.policy import Policy
from app.models import Campaign, CpmTier, Creator, Post
from app.repositories.pagination import decode_cursor, digest, encode_cursor

_SERIES = text(
    """
    SELECT date_trunc(:bucket, captured_at, 'UTC') AS at, max(views) AS views,
           max(likes) AS likes, max(comments) AS comments, max(shares) AS shares
    FROM stats_snapshots
    WHERE post_id = :post AND captured_at >= :start AND captured_at < :end
    GROUP BY 1 ORDER BY 1 LIMIT :limit
    """
)
_BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


async def post_series(
    session: AsyncSession,
    post_id: uuid.UUID,
    window: tuple[datetime | None, datetime | None],
    bucket: Literal["hour", "day"],
    cursor: str | None,
    limit: int,
    now: datetime,
) -> tuple[Sequence[Row[Any]], str | None]:
    """One row per bucket: its start (`at`) and the highest counts seen in it, oldest first.
    `window` is the (from, to) asked for; unset, the last 30 days up to now. The cursor
    carries the window it was computed with, so later pages cover the same one."""
    bound_to = digest("post_series", post_id, bucket, *window)
    if cursor is None:
        end = window[1] or now
        start = window[0] or end - timedelta(days=30)
        if start >= end:
            raise InvalidInput("invalid_range", "`from` must be before `to`.")
        after = start
    else:
        values = decode_cursor(cursor, 3, bound_to)
        try:
            start, end, last = (datetime.fromisoformat(str(v)) for v in values)
        except ValueError:
            raise InvalidCursor from None
        # Buckets are whole UTC hours or days: the next one starts a bucket after the last.
        after = max(start, last + _BUCKETS[bucket])
    rows = (
        await session.execute(
            _SERIES,
            {"bucket": bucket, "post": post_id, "start": after, "end": end, "limit": limit + 1},
        )
    ).all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor([start, end, rows[-1].at], bound_to)


def _groups(campaign_id: uuid.UUID, policy: Policy) -> Select[tuple[Any, ...]]:
    """The campaign's posts in one pass, by status and creator (a few dozen groups): the
    totals, the counts by status, the earnings and the per-creator figures are all sums of
    these. Handles are joined to the groups, not to every post."""
    # What a tracking post would earn at its current views if decided now: at or above its
    # campaign's minimum views, at its tier (NULL without one), capped, half-up.
    projected = case(
        (
            and_(
                Post.status == PostStatus.TRACKING,
                lifecycle.meets_min_views_sql(
                    Post.views, policy_sql.min_views_sql(policy, Campaign.min_views)
                ),
            ),
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
            # Posts with an open flag of each code.
            *(
                func.count().filter(Post.flags.any_() == code.value).label(f"flag_{code.value}")
                for code in FlagCode
            ),
        )
        .join(Campaign, Campaign.id == Post.campaign_id)
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
    SELECT day, views_gained, baseline_views FROM campaign_daily_views
    WHERE campaign_id = :campaign AND day <= :last ORDER BY day
    """
)


async def campaign_groups(
    session: AsyncSession, campaign_id: uuid.UUID, policy: Policy
) -> Sequence[Row[Any]]:
    rows: Sequence[Row[Any]] = (await session.execute(_groups(campaign_id, policy))).all()
    return rows


async def daily_gains(
    session: AsyncSession, campaign_id: uuid.UUID, last: date
) -> list[tuple[date, int, int]]:
    """(day, views gained, of which baseline) for every day up to `last` with a change."""
    rows = await session.execute(_DAILY, {"campaign": campaign_id, "last": last})
    # NUMERIC(38,0) columns (a day's sum can pass a bigint): whole numbers, as ints.
    return [(row.day, int(row.views_gained), int(row.baseline_views)) for row in rows]


async def top_posts(session: AsyncSession, campaign_id: uuid.UUID, top: int) -> Sequence[Row[Any]]:
    """The campaign's most viewed posts (the report's scope: every post, rejected included)."""
    stmt: Any = (
        select(
            Post.id,
            Post.creator_id,
            Post.platform,
            Post.platform_post_id,
            Post.status,
            Post.views,
        )
        .where(Post.campaign_id == campaign_id)
        .order_by(Post.views.desc(), Post.id)
        .limit(top)
    )
    rows: Sequence[Row[Any]] = (await session.execute(stmt)).all()
    return rows
