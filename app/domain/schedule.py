"""When a post is next due for a fetch, and which posts a claim may take. Pure: the writer
stores `next_refresh()` in posts.next_refresh_at, and the claim, the refresh runs and the
worker's lag gauge select with the `*_sql` forms beside each rule (parity-tested against the
Python ones in tests/domain/test_rule_parity.py)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    SQLColumnExpression,
    and_,
    bindparam,
    case,
    false,
    func,
    null,
    or_,
)

from app.domain.enums import PostStatus

# Undecided posts, refreshed every active interval; decided ones only daily.
ACTIVE = frozenset({PostStatus.TRACKING, PostStatus.HELD, PostStatus.PENDING_CPM})


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
    if not in_window(aged_from, due, cadence.window):
        return None
    return due


def in_window(aged_from: datetime, at: datetime, window: timedelta) -> bool:
    """Whether a post of this age is still refreshed at `at` (30 days from publishing)."""
    return at < aged_from + window


def in_window_sql(
    aged_from: SQLColumnExpression[Any], at: datetime, window: timedelta
) -> ColumnElement[bool]:
    # Rearranged so the column stands alone and its index serves the range.
    return aged_from > at - window


def is_free(status: PostStatus, lease_expires_at: datetime | None, now: datetime) -> bool:
    """A post a claim may take whenever it is due: not rejected, and held by no worker."""
    return status is not PostStatus.REJECTED and (
        lease_expires_at is None or lease_expires_at < now
    )


def is_free_sql(
    status: SQLColumnExpression[Any], lease_expires_at: SQLColumnExpression[Any], now: datetime
) -> ColumnElement[bool]:
    return and_(
        status != PostStatus.REJECTED,
        or_(lease_expires_at.is_(None), lease_expires_at < now),
    )


def is_due(
    status: PostStatus,
    next_refresh_at: datetime | None,
    lease_expires_at: datetime | None,
    now: datetime,
) -> bool:
    """A post a claim may take now: free, and scheduled by now."""
    return (
        is_free(status, lease_expires_at, now)
        and next_refresh_at is not None
        and next_refresh_at <= now
    )


def is_due_sql(
    status: SQLColumnExpression[Any],
    next_refresh_at: SQLColumnExpression[Any],
    lease_expires_at: SQLColumnExpression[Any],
    now: datetime,
) -> ColumnElement[bool]:
    return and_(is_free_sql(status, lease_expires_at, now), next_refresh_at <= now)


def is_urgent(status: PostStatus, deadline: datetime, now: datetime, cadence: Cadence) -> bool:
    """A tracking post within one active interval of its deadline: claimed ahead of every
    other due post, so its decision is made on stats from its deadline."""
    return status is PostStatus.TRACKING and deadline - cadence.active <= now


def is_urgent_sql(
    status: SQLColumnExpression[Any],
    deadline: SQLColumnExpression[Any],
    now: datetime,
    cadence: Cadence,
) -> ColumnElement[bool]:
    return and_(status == PostStatus.TRACKING, deadline <= now + cadence.active)


SETTLED = frozenset({PostStatus.FINALIZED, PostStatus.PAID})


class Freshness(StrEnum):
    """Which freshness class a refreshed post is in, in the order a claim serves them when
    demand exceeds capacity: a decision never waits on stale stats, an active post's figures
    come before a settled (read-only) post's trend."""

    DEADLINE = "deadline"  # tracking, within one active interval of its deadline
    ACTIVE = "active"  # tracking, held and pending_cpm: every active interval (6 h)
    SETTLED = "settled"  # finalized and paid: every settled interval (daily)


def is_active(status: PostStatus) -> bool:
    return status in ACTIVE


def is_active_sql(status: SQLColumnExpression[Any]) -> ColumnElement[bool]:
    # Literal values, so the planner can match the partial indexes (posts_active_due_idx,
    # posts_settled_due_idx).
    return status.in_(bindparam(None, sorted(ACTIVE), expanding=True, literal_execute=True))


def is_settled(status: PostStatus) -> bool:
    return status in SETTLED


def is_settled_sql(status: SQLColumnExpression[Any]) -> ColumnElement[bool]:
    return status.in_(bindparam(None, sorted(SETTLED), expanding=True, literal_execute=True))


def freshness(
    status: PostStatus, deadline: datetime, now: datetime, cadence: Cadence
) -> Freshness | None:
    """A post's freshness class (None: rejected, never refreshed)."""
    if is_urgent(status, deadline, now, cadence):
        return Freshness.DEADLINE
    if is_active(status):
        return Freshness.ACTIVE
    if is_settled(status):
        return Freshness.SETTLED
    return None


def freshness_sql(
    status: SQLColumnExpression[Any],
    deadline: SQLColumnExpression[Any],
    now: datetime,
    cadence: Cadence,
) -> ColumnElement[str | None]:
    return case(
        (is_urgent_sql(status, deadline, now, cadence), Freshness.DEADLINE.value),
        (is_active_sql(status), Freshness.ACTIVE.value),
        (is_settled_sql(status), Freshness.SETTLED.value),
        else_=null(),
    )


def interval_of(klass: Freshness, cadence: Cadence) -> timedelta:
    """How fresh a class's stats are meant to be: its refresh interval."""
    return cadence.settled if klass is Freshness.SETTLED else cadence.active


def stats_age(last_refreshed_at: datetime | None, created_at: datetime, now: datetime) -> timedelta:
    """How old a post's stats are: since its last successful fetch, or since it was added
    when it has never been fetched."""
    return now - (last_refreshed_at or created_at)


def stats_age_seconds_sql(
    last_refreshed_at: SQLColumnExpression[Any], created_at: SQLColumnExpression[Any], now: datetime
) -> ColumnElement[float]:
    age = func.extract("epoch", now - func.coalesce(last_refreshed_at, created_at))
    return cast(ColumnElement[float], age)


def fetched_recently(
    last_attempt_at: datetime | None, now: datetime, min_interval: timedelta
) -> bool:
    """A post fetched (successfully or not) within `min_interval` is not fetched again for a
    refresh run: a run cannot make a provider answer for one video more often than that.
    A zero interval turns the limit off."""
    return (
        min_interval > timedelta(0)
        and last_attempt_at is not None
        and last_attempt_at > now - min_interval
    )


def fetched_recently_sql(
    last_attempt_at: SQLColumnExpression[Any], now: datetime, min_interval: timedelta
) -> ColumnElement[bool]:
    if min_interval <= timedelta(0):
        return false()
    return and_(last_attempt_at.is_not(None), last_attempt_at > now - min_interval)
