"""The deadline sweep's query: tracking posts whose deadline has come, a chunk at a time,
with what deciding them needs; and making due now those that wait for a deadline fetch."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import policy_sql
from app.domain.enums import PostStatus
from app.domain.policy import Policy
from app.models import Campaign, CpmTier, Post, StatsSnapshot

START = (datetime.min.replace(tzinfo=UTC), uuid.UUID(int=0))


async def past_deadline(
    session: AsyncSession,
    now: datetime,
    policy: Policy,
    after: tuple[datetime, uuid.UUID] = START,
    limit: int = 2000,
) -> Sequence[Row[Any]]:
    """Tracking posts whose deadline (under their campaign's rules) has come, in
    (aged_from, id) order after `after`: one chunk of the sweep."""
    deadline = policy_sql.deadline_sql(
        policy, Post.aged_from, Campaign.finalize_after_days, Post.decide_after
    )
    # The snapshot of the stats it would be decided on (written with last_refreshed_at).
    snapshot = (
        select(StatsSnapshot.id)
        .where(
            StatsSnapshot.post_id == Post.id,
            StatsSnapshot.captured_at == Post.last_refreshed_at,
            StatsSnapshot.applied,
        )
        .order_by(StatsSnapshot.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    candidates = (
        select(
            Post.id,
            Post.aged_from,
            Post.decide_after,
            Post.views,
            Post.cpm_tier_id,
            CpmTier.cpm,
            CpmTier.cap,
            CpmTier.name.label("tier_name"),
            Campaign.min_views,
            Campaign.finalize_after_days,
            Post.last_refreshed_at,
            Post.last_attempt_at,
            Post.last_error,
            Post.last_fetch_outcome,
            Post.open_holds,
            Post.created_at,
            snapshot.label("snapshot_id"),
            deadline.label("deadline"),
        )
        .join(Campaign, Campaign.id == Post.campaign_id)
        .outerjoin(CpmTier, CpmTier.id == Post.cpm_tier_id)
        .where(
            Post.status == PostStatus.TRACKING,
            Post.aged_from <= now,  # no deadline comes before the age anchor
            tuple_(Post.aged_from, Post.id) > tuple_(*after),
        )
        .subquery()
    )
    stmt = (
        select(candidates)
        .where(candidates.c.deadline <= now)
        .order_by(candidates.c.aged_from, candidates.c.id)
        .limit(limit)
    )
    return (await session.execute(stmt)).all()


async def make_due(session: AsyncSession, post_ids: Sequence[uuid.UUID], now: datetime) -> None:
    """Fetch these tracking posts now (unless they are due already)."""
    await session.execute(
        update(Post)
        .where(
            Post.id.in_(post_ids),
            Post.status == PostStatus.TRACKING,
            (Post.next_refresh_at.is_(None)) | (Post.next_refresh_at > now),
        )
        .values(next_refresh_at=now)
    )
