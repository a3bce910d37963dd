"""Applying deadline decisions to many posts in two statements: one guarded UPDATE, one
INSERT of events for exactly the rows that UPDATE changed. The guard (`status = 'tracking'`
and the tier the decision was made with) makes a repeated or concurrent decision a no-op."""

import uuid
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus
from app.domain.lifecycle import Decision, Rules, Tier, decide
from app.workers import metrics


@dataclass(frozen=True)
class Candidate:
    post_id: uuid.UUID
    views: int
    cpm_tier_id: uuid.UUID | None
    tier: Tier | None
    rules: Rules
    note: str | None = None  # appended to the event's reason (e.g. the stats were stale)


def tier(cpm: Decimal | None, cap: Decimal | None) -> Tier | None:
    return None if cpm is None else Tier(cpm, cap)


def _event(decision: Decision, candidate: Candidate) -> tuple[str, str]:
    if decision.status is PostStatus.REJECTED:
        code, reason = "auto_rejected", decision.rejection_reason or ""
    elif decision.status is PostStatus.PENDING_CPM:
        code = "awaiting_cpm"
        reason = f"{candidate.views:,} views locked at the deadline; assign a CPM tier to finalize."
    else:
        code = "auto_finalized"
        reason = f"{candidate.views:,} views locked at the deadline; earnings {decision.earnings}."
    return code, f"{reason} {candidate.note}" if candidate.note else reason


_UPDATE = text(
    """
    UPDATE posts p SET
        status = u.status,
        locked_views = u.locked_views,
        earnings = u.earnings,
        finalized_at = CASE WHEN u.status = 'finalized' THEN now() END,
        rejection_code = u.rejection_code,
        rejection_reason = u.rejection_reason,
        next_refresh_at = CASE WHEN u.status = 'rejected' THEN NULL ELSE p.next_refresh_at END,
        -- A rejected post is never fetched again: no run may wait for it.
        refresh_run_id = CASE WHEN u.status = 'rejected' THEN NULL ELSE p.refresh_run_id END,
        updated_at = now()
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:statuses AS text[]), CAST(:locked AS bigint[]),
        CAST(:earnings AS numeric[]), CAST(:codes AS text[]), CAST(:reasons AS text[]),
        CAST(:tiers AS uuid[])
    ) AS u(id, status, locked_views, earnings, rejection_code, rejection_reason, tier_id)
    WHERE p.id = u.id
      AND p.status = 'tracking'
      AND p.cpm_tier_id IS NOT DISTINCT FROM u.tier_id
    RETURNING p.id, p.organization_id
    """
)

_EVENTS = text(
    """
    INSERT INTO post_events (organization_id, post_id, from_status, to_status, code, reason)
    SELECT e.org, e.post, 'tracking', e.status, e.code, e.reason
    FROM unnest(
        CAST(:orgs AS uuid[]), CAST(:posts AS uuid[]), CAST(:statuses AS text[]),
        CAST(:codes AS text[]), CAST(:reasons AS text[])
    ) AS e(org, post, status, code, reason)
    """
)


async def apply(session: AsyncSession, candidates: list[Candidate]) -> dict[uuid.UUID, PostStatus]:
    """Decide each candidate and apply what still holds. Returns the posts that changed."""
    if not candidates:
        return {}
    decided = [(c, decide(c.views, c.tier, c.rules)) for c in candidates]
    changed = await session.execute(
        _UPDATE,
        {
            "ids": [c.post_id for c, _ in decided],
            "statuses": [d.status.value for _, d in decided],
            "locked": [d.locked_views for _, d in decided],
            "earnings": [d.earnings for _, d in decided],
            "codes": [d.rejection_code for _, d in decided],
            "reasons": [d.rejection_reason for _, d in decided],
            "tiers": [c.cpm_tier_id for c, _ in decided],
        },
    )
    orgs = {row.id: row.organization_id for row in changed}
    applied = [(c, d) for c, d in decided if c.post_id in orgs]
    if applied:
        events = [_event(d, c) for c, d in applied]
        await session.execute(
            _EVENTS,
            {
                "orgs": [orgs[c.post_id] for c, _ in applied],
                "posts": [c.post_id for c, _ in applied],
                "statuses": [d.status.value for _, d in applied],
                "codes": [code for code, _ in events],
                "reasons": [reason for _, reason in events],
            },
        )
        for _, d in applied:
            metrics.TRANSITIONS.labels(d.status.value).inc()
    return {c.post_id: d.status for c, d in applied}
