"""Aggregates for dashboards, computed in PostgreSQL from indexed ranges: a scope's posts
(posts_campaign_id_* / posts_organization_id_*), one post's snapshots (by captured_at), the
campaigns' days.
services/analytics.py adds them up into the report."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, Row, Select, and_, case, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import lifecycle, policy_sql
from app.domain.enums import Platform, PostStatus
from app.domain.errors import InvalidCursor, InvalidInput
from app.domain.integrity import FlagCode
from app.domain.policy import Policy
from app.models import Campaign, CampaignDailyViews, CpmTier, Creator, Post
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


@dataclass(frozen=True)
class Scope:
    """Which posts a report covers: one organization's, within `campaign_ids` (None: all of
    its campaigns), of one creator and one platform when set, and aged from (published, else
    added) within [`since`, `until`) when set. Every figure of a report reads this one set."""

    organization_id: uuid.UUID
    campaign_ids: frozenset[uuid.UUID] | None = None
    creator_id: uuid.UUID | None = None
    platform: Platform | None = None
    since: datetime | None = None
    until: datetime | None = None

    def between(self, since: datetime | None, until: datetime | None) -> "Scope":
        return replace(self, since=since, until=until)

    def where(self) -> list[ColumnElement[bool]]:
        conditions = [Post.organization_id == self.organization_id]
        if self.campaign_ids is not None:
            conditions.append(Post.campaign_id.in_(sorted(self.campaign_ids)))
        if self.creator_id is not None:
            conditions.append(Post.creator_id == self.creator_id)
        if self.platform is not None:
            conditions.append(Post.platform == self.platform)
        if self.since is not None:
            conditions.append(Post.aged_from >= self.since)
        if self.until is not None:
            conditions.append(Post.aged_from < self.until)
        return conditions


def _groups(scope: Scope, policy: Policy) -> Select[tuple[Any, ...]]:
    """The scope's posts in one pass, by status, creator, platform and currency (a group per
    creator and status, times the few platforms and currencies): the totals, the counts by
    status and platform, the earnings and the per-creator figures are all sums of these.
    Handles are joined to the groups, not to every post."""
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
            Post.platform,
            Campaign.currency,
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
        .where(*scope.where())
        .group_by(Post.status, Post.creator_id, Post.platform, Campaign.currency)
        .subquery("g")
    )
    return select(g, Creator.handle).join(Creator, Creator.id == g.c.creator_id)


async def groups(session: AsyncSession, scope: Scope, policy: Policy) -> Sequence[Row[Any]]:
    rows: Sequence[Row[Any]] = (await session.execute(_groups(scope, policy))).all()
    return rows


async def daily_gains(
    session: AsyncSession, scope: Scope, last: date
) -> list[tuple[date, int, int]]:
    """(day, views gained, of which baseline) for every day up to `last` with a change, over
    the scope's campaigns (the rollup is per campaign and day: a few hundred rows each)."""
    stmt = (
        select(
            CampaignDailyViews.day,
            func.sum(CampaignDailyViews.views_gained).label("views_gained"),
            func.sum(CampaignDailyViews.baseline_views).label("baseline_views"),
        )
        .join(Campaign, Campaign.id == CampaignDailyViews.campaign_id)
        .where(Campaign.organization_id == scope.organization_id, CampaignDailyViews.day <= last)
        .group_by(CampaignDailyViews.day)
        .order_by(CampaignDailyViews.day)
    )
    if scope.campaign_ids is not None:
        stmt = stmt.where(CampaignDailyViews.campaign_id.in_(sorted(scope.campaign_ids)))
    rows = await session.execute(stmt)
    # NUMERIC(38,0) columns (a day's sum can pass a bigint): whole numbers, as ints.
    return [(row.day, int(row.views_gained), int(row.baseline_views)) for row in rows]


async def top_posts(session: AsyncSession, scope: Scope, top: int) -> Sequence[Row[Any]]:
    """The scope's most viewed posts (every post of it, rejected included), with their
    creators' handles."""
    stmt: Any = (
        select(
            Post.id,
            Post.campaign_id,
            Post.creator_id,
            Creator.handle.label("creator_handle"),
            Post.platform,
            Post.platform_post_id,
            Post.status,
            Post.views,
        )
        .join(Creator, Creator.id == Post.creator_id)
        .where(*scope.where())
        .order_by(Post.views.desc(), Post.id)
        .limit(top)
    )
    rows: Sequence[Row[Any]] = (await session.execute(stmt)).all()
    return rows
