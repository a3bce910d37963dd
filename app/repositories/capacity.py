"""The capacity figures' two statements (workers/capacity.py reports them): one grouped
aggregate over the posts inside the refresh window (counts and the oldest stats, exact),
and percentiles over a bounded sample of the table (`TABLESAMPLE SYSTEM`)."""

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, tablesample, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import policy_sql, schedule
from app.domain.enums import PostStatus
from app.domain.policy import Policy
from app.models import Campaign, Post


async def freshness_classes(
    session: AsyncSession, now: datetime, policy: Policy
) -> list[tuple[Any, ...]]:
    """(platform, freshness class, posts, oldest stats age in seconds), exact."""
    cadence = policy.cadence
    deadline = policy_sql.deadline_sql(
        policy, Post.aged_from, Campaign.finalize_after_days, Post.decide_after
    )
    klass = schedule.freshness_sql(Post.status, deadline, now, cadence).label("class")
    age = schedule.stats_age_seconds_sql(Post.last_refreshed_at, Post.created_at, now)
    rows = await session.execute(
        select(Post.platform, klass, func.count(), func.max(age))
        .join(Campaign, Campaign.id == Post.campaign_id)
        .where(
            Post.status != PostStatus.REJECTED,
            schedule.in_window_sql(Post.aged_from, now, cadence.window),
        )
        .group_by(Post.platform, klass)
    )
    return [tuple(row) for row in rows]


async def sampled_staleness(
    session: AsyncSession, now: datetime, policy: Policy, sample_size: int
) -> list[tuple[Any, ...]]:
    """(platform, freshness class, p50, p99 of the stats age in seconds) over a sample of
    about `sample_size` posts."""
    cadence = policy.cadence
    total = await session.scalar(
        text("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = 'posts'::regclass")
    )
    share = min(100.0, 100.0 * sample_size / max(float(total or 0), 1.0))
    sampled = tablesample(Post.__table__, func.system(share), name="sampled")
    s_deadline = policy_sql.deadline_sql(
        policy, sampled.c.aged_from, Campaign.finalize_after_days, sampled.c.decide_after
    )
    s_class = schedule.freshness_sql(sampled.c.status, s_deadline, now, cadence).label("class")
    s_age = schedule.stats_age_seconds_sql(sampled.c.last_refreshed_at, sampled.c.created_at, now)
    rows = await session.execute(
        select(
            sampled.c.platform,
            s_class,
            func.percentile_cont(0.5).within_group(s_age),
            func.percentile_cont(0.99).within_group(s_age),
        )
        .join(Campaign, Campaign.id == sampled.c.campaign_id)
        .where(
            sampled.c.status != PostStatus.REJECTED,
            schedule.in_window_sql(sampled.c.aged_from, now, cadence.window),
        )
        .group_by(sampled.c.platform, s_class)
    )
    return [tuple(row) for row in rows]
