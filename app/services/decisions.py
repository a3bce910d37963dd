"""Deadline decisions for many posts at once: the pure rule (`lifecycle.decide`) for each,
applied through the transition writer, guarded by the status, the tier and the open-hold
count each decision was made from. The result writer (a post's deadline fetch), the deadline
sweep and the clearing of a held post's last hold all call it."""

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import describe_database_error
from app.domain.enums import PostStatus
from app.domain.lifecycle import Decision, Rules, Tier, decide
from app.models import Post
from app.repositories.transitions import Transition
from app.services import transitions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Candidate:
    post_id: uuid.UUID
    views: int
    cpm_tier_id: uuid.UUID | None
    tier: Tier | None
    rules: Rules
    open_holds: int = 0  # as read with the views: the decision lands only if still so
    never_answered: str | None = None  # the last error, when no fetch ever gave stats
    note: str | None = None  # appended to the event's reason (e.g. the stats were stale)
    from_status: PostStatus = PostStatus.TRACKING  # HELD when its last hold was just cleared


def tier(cpm: Decimal | None, cap: Decimal | None) -> Tier | None:
    return None if cpm is None else Tier(cpm, cap)


def _event(decision: Decision, candidate: Candidate) -> tuple[str, str]:
    if decision.status is PostStatus.REJECTED:
        code, reason = "auto_rejected", decision.rejection_reason or ""
    elif decision.status is PostStatus.HELD:
        code = "held"
        reason = (
            f"{candidate.views:,} views locked at the deadline; {candidate.open_holds} open "
            "hold(s) must be cleared before it is decided."
        )
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
    if decision.status in (PostStatus.PENDING_CPM, PostStatus.HELD):
        return {"locked_views": decision.locked_views}
    return {
        "locked_views": decision.locked_views,
        "earnings": decision.earnings,
        "finalized_at": now,
    }


def transition(candidate: Candidate, now: datetime) -> Transition:
    decision = decide(
        candidate.views,
        candidate.tier,
        candidate.rules,
        held=candidate.open_holds > 0,
        never_answered=candidate.never_answered,
    )
    code, reason = _event(decision, candidate)
    return Transition(
        post_id=candidate.post_id,
        from_status=candidate.from_status,
        to_status=decision.status,
        code=code,
        reason=reason,
        values=_values(decision, now),
        expect={"cpm_tier_id": candidate.cpm_tier_id, "open_holds": candidate.open_holds},
    )


async def apply(
    session: AsyncSession, candidates: list[Candidate], now: datetime
) -> dict[uuid.UUID, PostStatus]:
    """Decide each candidate and apply what still holds. Returns the posts that changed."""
    if not candidates:
        return {}
    landed = await transitions.apply(session, [transition(c, now) for c in candidates], now)
    return {item.transition.post_id: item.transition.to_status for item in landed}


async def apply_isolated(
    session: AsyncSession, candidates: list[Candidate], now: datetime
) -> dict[uuid.UUID, PostStatus]:
    """`apply`, where a candidate the database refuses (an overflow, a constraint) fails
    alone: the batch is tried in a savepoint, then, if it fails, each candidate in its own;
    a refused one keeps its status and records the error, and every other one is decided."""
    if not candidates:
        return {}
    try:
        async with session.begin_nested():
            return await apply(session, candidates, now)
    except DBAPIError:
        pass
    changed: dict[uuid.UUID, PostStatus] = {}
    for one in candidates:
        try:
            async with session.begin_nested():
                changed.update(await apply(session, [one], now))
        except DBAPIError as exc:
            log.warning("deciding post %s failed: %s", one.post_id, describe_database_error(exc))
            await session.execute(
                update(Post)
                .where(Post.id == one.post_id)
                .values(
                    last_error_code="decision_failed",
                    last_error=f"The decision could not be stored: {describe_database_error(exc)}",
                    last_error_at=now,
                )
            )
    return changed
