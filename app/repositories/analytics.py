"""Aggregates for dashboards, computed in PostgreSQL from indexed ranges: a scope's posts
(posts_campaign_id_* / posts_organization_id_*), one post's snapshots (by captured_at), the
campaigns' days (and their creators').
services/analytics.py adds them up into the report."""

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    and_,
    bindparam,
    case,
    func,
    select,
    true,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import lifecycle, policy_sql
from app.domain.enums import Platform, PostStatus
from app.domain.errors import InvalidCursor, InvalidInput
from app.domain.integrity import FlagCode
from app.domain.policy import Policy
from app.models import Campaign, CampaignDailyViews, CpmTier, Creator, CreatorDailyViews, Post
from app.repositories import written
from app.repositories.pagination import decode_cursor, digest, encode_cursor

# Read on the driver (app.repositories.written): a post's page (with what else it shows:
# app.repositories.post_page_reads) and `GET /v1/posts/{id}/stats` ask it on every view.
# Parameters: the bucket, the post, from, to, how many buckets.
SERIES = """
    SELECT date_trunc($1, captured_at, 'UTC') AS at, max(views) AS views,
           max(likes) AS likes, max(comments) AS comments, max(shares) AS shares
    FROM stats_snapshots
    WHERE post_id = $2 AND captured_at >= $3 AND captured_at < $4
    GROUP BY 1 ORDER BY 1 LIMIT $5
"""


class Bucket(NamedTuple):
    at: datetime  # the bucket's start
    views: int
    likes: int | None
    comments: int
    shares: int | None


_BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


async def post_series(
    session: AsyncSession,
    post_id: uuid.UUID,
    window: tuple[datetime | None, datetime | None],
    bucket: Literal["hour", "day"],
    cursor: str | None,
    limit: int,
    now: datetime,
) -> tuple[list[Bucket], str | None]:
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
    found = await written.fetch_sql(session, SERIES, bucket, post_id, after, end, limit + 1)
    rows = [Bucket(*row) for row in found]
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

    def shape(self) -> tuple[bool, ...]:
        """Which conditions the scope has: statements are built once per shape (building one
        cost more than running it) and take the values as parameters."""
        return (
            self.campaign_ids is not None,
            self.creator_id is not None,
            self.platform is not None,
            self.since is not None,
            self.until is not None,
        )

    def params(self) -> dict[str, Any]:
        return {
            "organization_id": self.organization_id,
            "campaign_ids": None if self.campaign_ids is None else sorted(self.campaign_ids),
            "creator_id": self.creator_id,
            "platform": self.platform,
            "since": self.since,
            "until": self.until,
        }


def _where(shape: tuple[bool, ...]) -> list[ColumnElement[bool]]:
    """A scope's conditions for its shape, over the parameters of `Scope.params`."""
    campaigns, creator, platform, since, until = shape
    conditions = [Post.organization_id == bindparam("organization_id")]
    if campaigns:
        conditions.append(Post.campaign_id.in_(bindparam("campaign_ids", expanding=True)))
    if creator:
        conditions.append(Post.creator_id == bindparam("creator_id"))
    if platform:
        conditions.append(Post.platform == bindparam("platform"))
    if since:
        conditions.append(Post.aged_from >= bindparam("since", type_=Post.aged_from.type))
    if until:
        conditions.append(Post.aged_from < bindparam("until", type_=Post.aged_from.type))
    return conditions


@functools.lru_cache(maxsize=128)
def _groups(shape: tuple[bool, ...], split: bool, policy: Policy) -> Select[tuple[Any, ...]]:
    """The scope's posts in one pass, by status, creator, platform and currency (a group per
    creator and status, times the few platforms and currencies): the totals, the counts by
    status and platform, the earnings and the per-creator figures are all sums of these.
    Handles are joined to the groups, not to every post. `split`: the scope covers a period
    and the one before it, and `current` tells the period's groups (aged from `:split` on)
    from the previous one's: one statement, one read of the posts, for both."""
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
    in_period: ColumnElement[bool] = (
        Post.aged_from >= bindparam("split", type_=Post.aged_from.type) if split else true()
    )
    current = in_period.label("current")
    # PostgreSQL refuses a constant in GROUP BY: unsplit, every group is the period's.
    period_key = [current] if split else []
    g = (
        select(
            current,
            Post.status,
            Post.creator_id,
            Post.platform,
            Campaign.currency,
            func.count().label("posts"),
            func.sum(Post.views).label("views"),
            # Known likes only (a YouTube channel may hide them: NULL).
            func.sum(func.coalesce(Post.likes, 0)).label("likes"),
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
        .where(*_where(shape))
        .group_by(*period_key, Post.status, Post.creator_id, Post.platform, Campaign.currency)
        .subquery("g")
    )
    return select(g, Creator.handle).join(Creator, Creator.id == g.c.creator_id)


async def groups(
    session: AsyncSession, scope: Scope, policy: Policy, previous_start: datetime | None = None
) -> tuple[Sequence[Row[Any]], Sequence[Row[Any]] | None]:
    """The period's groups (`scope`), and with `previous_start` those of the period before
    it (aged from `previous_start` up to `scope.since`), read together."""
    if previous_start is None:
        stmt = _groups(scope.shape(), False, policy)
        rows = (await session.execute(stmt, scope.params())).all()
        return rows, None
    both = scope.between(previous_start, scope.until)
    stmt = _groups(both.shape(), True, policy)
    rows = (await session.execute(stmt, {**both.params(), "split": scope.since})).all()
    return [r for r in rows if r.current], [r for r in rows if not r.current]


@functools.lru_cache(maxsize=4)
def _daily_gains(campaigns: bool) -> Select[date, Decimal, Decimal]:
    """Built once per shape, as the groups are (see `Scope.shape`)."""
    stmt = (
        select(
            CampaignDailyViews.day,
            func.sum(CampaignDailyViews.views_gained).label("views_gained"),
            func.sum(CampaignDailyViews.baseline_views).label("baseline_views"),
        )
        .join(Campaign, Campaign.id == CampaignDailyViews.campaign_id)
        .where(
            Campaign.organization_id == bindparam("organization_id"),
            CampaignDailyViews.day <= bindparam("last", type_=CampaignDailyViews.day.type),
        )
        .group_by(CampaignDailyViews.day)
        .order_by(CampaignDailyViews.day)
    )
    if campaigns:
        stmt = stmt.where(
            CampaignDailyViews.campaign_id.in_(bindparam("campaign_ids", expanding=True))
        )
    return stmt


@functools.lru_cache(maxsize=8)
def _creator_daily_gains(
    campaigns: bool, creator: bool, platform: bool
) -> Select[date, Decimal, Decimal]:
    """The same sums from the per-creator rollup, for a scope with a creator or a platform."""
    day = CreatorDailyViews.day
    stmt = (
        select(
            day,
            func.sum(CreatorDailyViews.views_gained).label("views_gained"),
            func.sum(CreatorDailyViews.baseline_views).label("baseline_views"),
        )
        .join(Campaign, Campaign.id == CreatorDailyViews.campaign_id)
        .where(
            Campaign.organization_id == bindparam("organization_id"),
            day <= bindparam("last", type_=day.type),
        )
        .group_by(day)
        .order_by(day)
    )
    if campaigns:
        stmt = stmt.where(
            CreatorDailyViews.campaign_id.in_(bindparam("campaign_ids", expanding=True))
        )
    if creator:
        stmt = stmt.where(CreatorDailyViews.creator_id == bindparam("creator_id"))
    if platform:
        stmt = stmt.where(CreatorDailyViews.platform == bindparam("platform"))
    return stmt


async def daily_gains(
    session: AsyncSession, scope: Scope, last: date
) -> list[tuple[date, int, int]]:
    """(day, views gained, of which baseline) for every day up to `last` with a change, over
    the posts of the scope's campaigns, creator and platform (not its period: the series
    covers every post's views on each day). Unfiltered, the per-campaign rollup (a few
    hundred rows a campaign); by creator or platform, the per-creator one, which adds up to
    the same per campaign."""
    stmt: Any
    if scope.creator_id is None and scope.platform is None:
        stmt = _daily_gains(scope.campaign_ids is not None)
    else:
        stmt = _creator_daily_gains(
            scope.campaign_ids is not None, scope.creator_id is not None, scope.platform is not None
        )
    rows = await session.execute(stmt, {**scope.params(), "last": last})
    # NUMERIC(38,0) columns (a day's sum can pass a bigint): whole numbers, as ints.
    return [(row.day, int(row.views_gained), int(row.baseline_views)) for row in rows]


@functools.lru_cache(maxsize=64)
def _top_posts(
    shape: tuple[bool, ...],
) -> Select[uuid.UUID, uuid.UUID, uuid.UUID, str, Platform, str, PostStatus, int]:
    return (
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
        .where(*_where(shape))
        .order_by(Post.views.desc(), Post.id)
        .limit(bindparam("top"))
    )


async def top_posts(session: AsyncSession, scope: Scope, top: int) -> Sequence[Row[Any]]:
    """The scope's most viewed posts (every post of it, rejected included), with their
    creators' handles."""
    stmt: Any = _top_posts(scope.shape())
    rows: Sequence[Row[Any]] = (await session.execute(stmt, {**scope.params(), "top": top})).all()
    return rows
