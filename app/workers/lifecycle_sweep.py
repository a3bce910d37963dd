"""The deadline sweep. Most decisions happen as a post's deadline fetch is written (see
apply.py); this sweep catches the rest: a post whose deadline fetch has not happened yet is
made due now, and one whose fetches keep failing is decided on its last known stats once
the grace period is over. Every decision goes through the same guarded path."""

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.workers import decisions
from app.workers.apply import Policy

_PAST_DEADLINE = text(
    """
    SELECT * FROM (
        SELECT p.id, p.aged_from, p.views, p.cpm_tier_id, t.cpm, t.cap, c.min_views,
               c.finalize_after_days, p.last_refreshed_at, p.last_attempt_at,
               -- Days of exactly 24 h, as in Python (calendar days would move with DST).
               greatest(
                   p.aged_from
                   + make_interval(secs => 86400 * coalesce(c.finalize_after_days, :days)),
                   p.decide_after
               ) AS deadline
        FROM posts p
        JOIN campaigns c ON c.id = p.campaign_id
        LEFT JOIN cpm_tiers t ON t.id = p.cpm_tier_id
        WHERE p.status = 'tracking'
          AND p.aged_from <= :now
          AND (p.aged_from, p.id) > (:after_aged_from, :after_id)
    ) due
    WHERE deadline <= :now
    ORDER BY aged_from, id
    LIMIT :limit
    """
)

_MAKE_DUE = text(
    """
    UPDATE posts SET next_refresh_at = :now
    WHERE id = ANY(CAST(:ids AS uuid[])) AND status = 'tracking'
      AND (next_refresh_at IS NULL OR next_refresh_at > :now)
    """
)


async def sweep(
    session: AsyncSession, now: datetime, policy: Policy, grace: timedelta, chunk: int = 2000
) -> int:
    """One pass over tracking posts past their deadline. Returns how many were decided."""
    decided = 0
    after: tuple[datetime, uuid.UUID] = (datetime.min.replace(tzinfo=UTC), uuid.UUID(int=0))
    while True:
        rows = (
            await session.execute(
                _PAST_DEADLINE,
                {
                    "now": now,
                    "days": policy.finalize_after_days,
                    "after_aged_from": after[0],
                    "after_id": after[1],
                    "limit": chunk,
                },
            )
        ).all()
        if not rows:
            return decided
        after = (rows[-1].aged_from, rows[-1].id)
        ready: list[decisions.Candidate] = []
        waiting = []
        for row in rows:
            fresh = row.last_refreshed_at is not None and row.last_refreshed_at >= row.deadline
            tried = row.last_attempt_at is not None and row.last_attempt_at >= row.deadline
            if not fresh and not tried and now < row.deadline + grace:
                waiting.append(row.id)  # not fetched since the deadline: fetch it now
            elif fresh or now >= row.deadline + grace:
                note = None
                if not fresh:
                    seen = row.last_refreshed_at.isoformat() if row.last_refreshed_at else "never"
                    note = f"(The platform did not answer since the deadline; stats as of {seen}.)"
                ready.append(
                    decisions.Candidate(
                        post_id=row.id,
                        views=row.views,
                        cpm_tier_id=row.cpm_tier_id,
                        tier=decisions.tier(row.cpm, row.cap),
                        rules=policy.rules(row.min_views, row.finalize_after_days),
                        note=note,
                    )
                )
            # else: fetches since the deadline failed; the retry schedule goes on until the
            # grace period ends (making it due here would undo the backoff)
        decided += len(await decisions.apply(session, ready))
        if waiting:
            await session.execute(_MAKE_DUE, {"now": now, "ids": waiting})
        if len(rows) < chunk:
            return decided
