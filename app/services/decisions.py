"""Deadline decisions for many posts at once: the pure rule (`lifecycle.decide`) for each,
applied through the transition writer, guarded by the status and the tier each decision was
made from. The result writer (a post's deadline fetch) and the deadline sweep both call it."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus
from app.domain.lifecycle import Decision, Rules, Tier, decide
from app.repositories import transitions
from app.repositories.transitions import Transition


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


def _values(decision: Decision, now: datetime) -> dict[str, Any]:
    if decision.status is PostStatus.REJECTED:
        # A rejected post is never fetched again, so no refresh run may wait for it.
        return {
            "rejection_code": decision.rejection_code,
            "rejection_reason": decision.rejection_reason,
            "next_refresh_at": None,
            "refresh_run_id": None,
        }
    if decision.status is PostStatus.PENDING_CPM:
        return {"locked_views": decision.locked_views}
    return {
        "locked_views": decision.locked_views,
        "earnings": decision.earnings,
        "finalized_at": now,
    }


def transition(candidate: Candidate, now: datetime) -> Transition:
    decision = decide(candidate.views, candidate.tier, candidate.rules)
    code, reason = _event(decision, candidate)
    return Transition(
        post_id=candidate.post_id,
        from_status=PostStatus.TRACKING,
        to_status=decision.status,
        code=code,
        reason=reason,
        values=_values(decision, now),
        tier=candidate.cpm_tier_id,
    )


async def apply(
    session: AsyncSession, candidates: list[Candidate], now: datetime
) -> dict[uuid.UUID, PostStatus]:
    """Decide each candidate and apply what still holds. Returns the posts that changed."""
    if not candidates:
        return {}
    landed = await transitions.apply(session, [transition(c, now) for c in candidates], now)
    return {item.transition.post_id: item.transition.to_status for item in landed}
