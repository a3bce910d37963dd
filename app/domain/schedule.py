"""When a post is next due for a fetch. Pure: the engine stores the answer in
posts.next_refresh_at, and the claim query reads it."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from app.domain.enums import PostStatus

ACTIVE = frozenset({PostStatus.TRACKING, PostStatus.PENDING_CPM})


@dataclass(frozen=True)
class Cadence:
    active: timedelta  # tracking and pending_cpm posts (6 h)
    settled: timedelta  # finalized and paid posts: read-only trend tracking (daily)
    window: timedelta  # posts older than this are not refreshed (30 days)
    retry: timedelta  # first retry after a failed fetch, doubling up to the normal interval


def next_refresh(
    status: PostStatus,
    aged_from: datetime,
    now: datetime,
    cadence: Cadence,
    *,
    deadline: datetime | None = None,
    failures: int = 0,
) -> datetime | None:
    """None means never again: rejected, or the next fetch would fall outside the window.
    A tracking post whose deadline comes before its next regular fetch is fetched right at
    the deadline, so its decision is made on stats from that moment."""
    if status is PostStatus.REJECTED:
        return None
    interval = cadence.active if status in ACTIVE else cadence.settled
    if failures > 0:
        interval = min(interval, cadence.retry * 2 ** min(failures - 1, 20))
    due = now + interval
    if status is PostStatus.TRACKING and deadline is not None and now < deadline < due:
        due = deadline
    if due >= aged_from + cadence.window:
        return None
    return due
