"""Deadline decisions for many posts at once: each decided by app/domain/decisions.py,
applied through the transition writer, guarded by the status, the tier and the open-hold
count each decision was made from. The result writer (a post's deadline fetch), the deadline
sweep and the clearing of a held post's last hold all call it."""

import logging
import uuid
from collections import Counter as CountOf
from collections.abc import Sequence
from datetime import datetime, timedelta

from prometheus_client import Counter
from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import describe_database_error
from app.domain import evidence
from app.domain.decisions import Candidate, transition
from app.domain.enums import PostStatus
from app.domain.transitions import Landed
from app.models import Post
from app.services import transitions

log = logging.getLogger(__name__)
TRANSITIONS = Counter(
    "viewledger_lifecycle_transitions_total",
    "Lifecycle transitions made by the worker, by the status entered.",
    ["to_status"],
)
LATE_DECISIONS = Counter(
    "viewledger_late_decisions_total",
    "Deadline decisions made on stats observed late (added_late, fetch_delayed) or before "
    "the deadline (stale: the platform did not answer since).",
    ["cause"],
)
# Each series exists from the start (at 0): rates and alerts see none, not nothing.
for _status in PostStatus:
    TRANSITIONS.labels(_status.value)
for _cause in evidence.TIMING_CAUSES:
    LATE_DECISIONS.labels(_cause)


async def decide_all(
    session: AsyncSession, candidates: list[Candidate], now: datetime, tolerance: timedelta
) -> dict[uuid.UUID, PostStatus]:
    """Decide each candidate, apply what still holds and announce it. Returns the posts that
    changed."""
    landed = await decide_quietly(session, candidates, now, tolerance)
    await transitions.announce(session, transitions.changed(landed), now)
    return {item.transition.post_id: item.transition.to_status for item in landed}


async def decide_quietly(
    session: AsyncSession, candidates: list[Candidate], now: datetime, tolerance: timedelta
) -> list[Landed]:
    """Decide each candidate and apply what still holds, unannounced. Returns the changes
    that landed."""
    if not candidates:
        return []
    landed = await transitions.write(
        session, [transition(c, now, tolerance) for c in candidates], now
    )
    count_late(landed)
    return landed


def count_late(landed: Sequence[Landed]) -> None:
    """Count the deadline decisions that landed on stats observed late or early."""
    late: CountOf[str] = CountOf()
    for item in landed:
        cause = ((item.transition.evidence or {}).get("timing") or {}).get("cause")
        if cause is not None and item.transition.from_status is PostStatus.TRACKING:
            late[cause] += 1
    for cause, n in late.items():
        LATE_DECISIONS.labels(cause).inc(n)


async def decide_all_isolated(
    session: AsyncSession, candidates: list[Candidate], now: datetime, tolerance: timedelta
) -> dict[uuid.UUID, PostStatus]:
    """`decide_all`, where a candidate the database refuses (an overflow, a constraint) fails
    alone: the batch is tried in a savepoint, then, if it fails, each candidate in its own;
    a refused one keeps its status and records the error, and every other one is decided."""
    if not candidates:
        return {}
    try:
        async with session.begin_nested():
            return await decide_all(session, candidates, now, tolerance)
    except DBAPIError:
        pass
    changed: dict[uuid.UUID, PostStatus] = {}
    for one in candidates:
        try:
            async with session.begin_nested():
                changed.update(await decide_all(session, [one], now, tolerance))
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
