"""The deadline sweep. Most decisions happen as a post's deadline fetch is written (see
results.py); this sweep catches the rest: a post whose deadline fetch has not happened yet is
made due now, and one whose fetches keep failing is decided on its last known stats once
the grace period is over. Every decision goes through the same transition writer."""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Row, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus
from app.domain.policy import Policy
from app.models import Campaign, CpmTier, Post, StatsSnapshot
from app.services import decisions
from app.workers import metrics

_START = (datetime.min.replace(tzinfo=UTC), uuid.UUID(int=0))


async def past_deadline(
    session: AsyncSession,
    now: datetime,
    policy: Policy,
    after: tuple[datetime, uuid.UUID] = _START,
    limit: int = 2000,
) -> Sequence[Row[Any]]:
    """Tracking posts whose deadline (under their campaign's rules) has come, in
    (aged_from, id) order after `after`: one chunk of the sweep."""
    deadline = policy.deadline_sql(Post.aged_from, Campaign.finalize_after_days, Post.decide_after)
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


async def sweep(
    session: AsyncSession, now: datetime, policy: Policy, grace: timedelta, chunk: int = 2000
) -> int:
    """One pass over tracking posts past their deadline. Returns how many were decided."""
    decided = 0
    after = _START
    while True:
        rows = await past_deadline(session, now, policy, after, chunk)
        if not rows:
            return decided
        after = (rows[-1].aged_from, rows[-1].id)
        ready, waiting = triage(rows, now, policy, grace)
        changed = await decisions.apply_isolated(session, ready, now, policy.late_tolerance)
        for status in changed.values():
            metrics.TRANSITIONS.labels(status.value).inc()
        decided += len(changed)
        if waiting:
            await session.execute(
                update(Post)
                .where(
                    Post.id.in_(waiting),
                    Post.status == PostStatus.TRACKING,
                    (Post.next_refresh_at.is_(None)) | (Post.next_refresh_at > now),
                )
                .values(next_refresh_at=now)
            )
        if len(rows) < chunk:
            return decided


def triage(
    rows: Sequence[Row[Any]], now: datetime, policy: Policy, grace: timedelta
) -> tuple[list[decisions.Candidate], list[uuid.UUID]]:
    """What to decide now (fetched since the deadline, or past the grace period), and what to
    fetch first (not tried since the deadline). A post whose fetches since the deadline
    failed is neither: its retry schedule goes on until the grace period ends (making it
    due here would undo the backoff)."""
    ready: list[decisions.Candidate] = []
    waiting: list[uuid.UUID] = []
    for row in rows:
        fresh = row.last_refreshed_at is not None and row.last_refreshed_at >= row.deadline
        tried = row.last_attempt_at is not None and row.last_attempt_at >= row.deadline
        if not fresh and not tried and now < row.deadline + grace:
            waiting.append(row.id)
        elif fresh or now >= row.deadline + grace:
            note = never_answered = None
            if row.last_refreshed_at is None:
                # No fetch ever gave stats: its 0 views say nothing about the video.
                never_answered = row.last_error or row.last_fetch_outcome or "no fetch was made"
            elif not fresh:
                seen = row.last_refreshed_at.isoformat()
                note = f"(The platform did not answer since the deadline; stats as of {seen}.)"
            ready.append(
                decisions.candidate(
                    policy,
                    post_id=row.id,
                    views=row.views,
                    open_holds=row.open_holds,
                    cpm_tier_id=row.cpm_tier_id,
                    cpm=row.cpm,
                    cap=row.cap,
                    tier_name=row.tier_name,
                    campaign_min_views=row.min_views,
                    campaign_finalize_days=row.finalize_after_days,
                    aged_from=row.aged_from,
                    decide_after=row.decide_after,
                    added_at=row.created_at,
                    observed_at=row.last_refreshed_at,
                    snapshot_id=row.snapshot_id,
                    note=note,
                    never_answered=never_answered,
                )
            )
    return ready, waiting
