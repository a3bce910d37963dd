"""Claiming due posts. PostgreSQL decides what is due; a claim takes a batch under a lease
(`FOR UPDATE SKIP LOCKED`, then a lease time on the rows), so concurrent workers never take
the same post, and a crashed worker's posts come back when its lease runs out."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Platform, PostStatus


@dataclass(frozen=True)
class DuePost:
    """A claimed post with what fetching and deciding it needs."""

    id: uuid.UUID
    organization_id: uuid.UUID
    campaign_id: uuid.UUID
    creator_id: uuid.UUID
    platform: Platform
    platform_post_id: str
    handle: str
    creator_user_id: str | None
    status: PostStatus
    published_at: datetime | None
    created_at: datetime
    views: int
    cpm_tier_id: uuid.UUID | None
    cpm: Decimal | None
    cap: Decimal | None
    min_views: int | None  # campaign override
    finalize_after_days: int | None  # campaign override
    consecutive_failures: int
    refresh_run_id: uuid.UUID | None
    decide_after: datetime | None  # restored by an admin: decide on stats from after this
    # The claim's lease, which is also its token: a write only lands while the row still
    # carries it, so a worker that outlived its lease cannot overwrite its successor's work.
    lease: datetime


_CLAIM = text(
    """
    -- Two index-driven branches, so a claim reads only what it takes: first tracking posts
    -- close to their deadline (posts_tracking_aged_from_idx), then the most overdue of the
    -- rest (posts_platform_next_refresh_at_idx). One ORDER BY over an expression would sort
    -- every due post on every claim.
    WITH urgent AS (
        SELECT id, refresh_run_id IS NULL AS runless FROM posts
        WHERE status = 'tracking' AND aged_from <= :near_deadline AND aged_from > :window_start
          AND platform = :platform AND next_refresh_at <= :now
          AND (lease_expires_at IS NULL OR lease_expires_at < :now)
        ORDER BY next_refresh_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ), rest AS (
        SELECT id, refresh_run_id IS NULL AS runless FROM posts
        WHERE platform = :platform AND next_refresh_at <= :now
          AND status <> 'rejected' AND aged_from > :window_start
          AND (lease_expires_at IS NULL OR lease_expires_at < :now)
        ORDER BY next_refresh_at
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ), due AS (
        SELECT id, runless FROM urgent
        UNION ALL
        (SELECT id, runless FROM rest WHERE id NOT IN (SELECT id FROM urgent)
         LIMIT :limit - (SELECT count(*) FROM urgent))
    ), claimed AS (
        -- A post in no run joins its organization's run, if the caller has one for it.
        UPDATE posts p SET lease_expires_at = :lease_until,
            refresh_run_id = coalesce(p.refresh_run_id, (
                SELECT r.run FROM unnest(CAST(:run_orgs AS uuid[]), CAST(:run_ids AS uuid[]))
                    AS r(org, run)
                WHERE r.org = p.organization_id))
        FROM due WHERE p.id = due.id
        RETURNING p.*, due.runless
    ), joined AS (
        UPDATE refresh_runs r SET queued = r.queued + j.n, finished_at = NULL
        FROM (SELECT refresh_run_id AS id, count(*) AS n FROM claimed
              WHERE runless AND refresh_run_id IS NOT NULL GROUP BY 1 ORDER BY 1) AS j
        WHERE r.id = j.id
    )
    SELECT p.id, p.organization_id, p.campaign_id, p.creator_id, p.platform,
           p.platform_post_id, cr.handle, cr.platform_user_id AS creator_user_id, p.status,
           p.published_at, p.created_at, p.views, p.cpm_tier_id, t.cpm, t.cap,
           c.min_views, c.finalize_after_days, p.consecutive_failures, p.refresh_run_id,
           p.decide_after, p.lease_expires_at AS lease
    FROM claimed p
    JOIN campaigns c ON c.id = p.campaign_id
    JOIN creators cr ON cr.id = p.creator_id
    LEFT JOIN cpm_tiers t ON t.id = p.cpm_tier_id
    ORDER BY p.next_refresh_at
    """
)


async def claim(
    session: AsyncSession,
    platform: Platform,
    *,
    now: datetime,
    limit: int,
    lease: timedelta,
    window: timedelta,
    near_deadline: timedelta,
    runs: Mapping[uuid.UUID, uuid.UUID] | None = None,
) -> list[DuePost]:
    """Claim up to `limit` due posts. A post in no refresh run joins the run `runs` names for
    its organization (counted in that run's `queued`); one whose organization is not there
    stays without a run."""
    runs = runs or {}
    rows = await session.execute(
        _CLAIM,
        {
            "platform": platform.value,
            "now": now,
            "window_start": now - window,
            "near_deadline": now - near_deadline,
            "limit": limit,
            "lease_until": now + lease,
            "run_orgs": list(runs),
            "run_ids": list(runs.values()),
        },
    )
    return [
        DuePost(
            **{**row._mapping, "platform": Platform(row.platform), "status": PostStatus(row.status)}
        )
        for row in rows
    ]


async def release(session: AsyncSession, post_ids: list[uuid.UUID]) -> None:
    """Hand back posts claimed but not fetched (shutdown), so another worker takes them now
    instead of when the lease would have run out."""
    if post_ids:
        await session.execute(
            text("UPDATE posts SET lease_expires_at = NULL WHERE id = ANY(CAST(:ids AS uuid[]))"),
            {"ids": post_ids},
        )
