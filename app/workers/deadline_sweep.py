"""The deadline sweep. Most decisions happen as a post's deadline fetch is written (see
services/refresh_results.py); this sweep catches the rest: a post whose deadline fetch has
not happened yet is made due now, and one whose fetches keep failing is decided on its last
known stats once the grace period is over. Every decision goes through the same transition
writer. The query is repositories/deadlines.py's."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.decisions import Candidate, candidate
from app.domain.policy import Policy
from app.repositories import deadlines
from app.services import decisions


async def sweep(
    session: AsyncSession, now: datetime, policy: Policy, grace: timedelta, chunk: int = 2000
) -> int:
    """One pass over tracking posts past their deadline. Returns how many were decided."""
    decided = 0
    after = deadlines.START
    while True:
        rows = await deadlines.past_deadline(session, now, policy, after, chunk)
        if not rows:
            return decided
        after = (rows[-1].aged_from, rows[-1].id)
        ready, waiting = triage(rows, now, policy, grace)
        changed = await decisions.decide_all_isolated(session, ready, now, policy.late_tolerance)
        for status in changed.values():
            decisions.TRANSITIONS.labels(status.value).inc()
        decided += len(changed)
        if waiting:
            await deadlines.make_due(session, waiting, now)
        if len(rows) < chunk:
            return decided


def triage(
    rows: Sequence[Row[Any]], now: datetime, policy: Policy, grace: timedelta
) -> tuple[list[Candidate], list[uuid.UUID]]:
    """What to decide now (fetched since the deadline, or past the grace period), and what to
    fetch first (not tried since the deadline). A post whose fetches since the deadline
    failed is neither: its retry schedule goes on until the grace period ends (making it
    due here would undo the backoff)."""
    ready: list[Candidate] = []
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
                candidate(
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
