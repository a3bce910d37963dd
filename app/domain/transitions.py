"""Which status changes the lifecycle allows, and on what condition: one table keyed by
(from, to). The one transition writer (app/repositories/transitions.py) applies each change's
guard itself: the SQL form (`allowed_sql`) in its guarded UPDATE, and the Python twin
(`refusal`) to say why a change it refused did not land (the 409's code and message). No
caller brings a guard of its own, so a door to a status cannot forget one: every way to
`paid` refuses a post with an open hold or one in another open payout batch.
tests/domain/test_rule_parity.py checks that the two forms agree.

A change not in the table is never applied. Guards read the post's state as it is when the
UPDATE runs (status, open holds, the open payout batch it is in); a deadline decision also
lands only while the inputs it was computed from are unchanged (the writer's `expect`), which
is staleness, not a rule."""

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, false, or_
from sqlalchemy.sql.elements import Null

from app.domain import lifecycle
from app.domain.enums import PostStatus
from app.domain.lifecycle import TransitionError


@dataclass(frozen=True)
class Transition:
    post_id: uuid.UUID
    from_status: PostStatus  # the status the change was decided from
    to_status: PostStatus  # (from, to) names the guard the writer applies (the table below)
    code: str  # the event's machine code
    reason: str | None = None
    actor_key_id: uuid.UUID | None = None  # None: the system (the worker)
    # Other columns of the post set with the change (never `status` or `updated_at`).
    values: Mapping[str, Any] = field(default_factory=dict)
    # Columns a decision was computed from, with the values it saw: it lands only while the
    # post still has them (a tier assigned or a hold raised meanwhile must not be overwritten
    # by a decision made without it). Staleness only: the rules are the table's.
    expect: Mapping[str, Any] = field(default_factory=dict)
    # What a decision was made on (app.domain.evidence), stored with its event.
    evidence: Mapping[str, Any] | None = None
    # The payout batch paying the post (finalized -> paid through a batch), else None.
    payout_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Landed:
    transition: Transition
    organization_id: uuid.UUID


def evidence_snapshots(landed: Sequence[Landed]) -> list[int]:
    """The snapshots these changes' evidence names: their raw answers are kept for good."""
    return [
        snapshot
        for item in landed
        if (snapshot := (item.transition.evidence or {}).get("snapshot_id")) is not None
    ]


@dataclass(frozen=True)
class PostState:
    """What a guard reads of a post, in Python."""

    status: PostStatus
    open_holds: int
    open_payout_id: uuid.UUID | None = None  # the open payout batch the post is in, if any


@dataclass(frozen=True)
class StateSql:
    """The same, as SQL expressions the writer passes in; `via_payout` is the payout batch
    paying the post (NULL for any other door)."""

    status: SQLColumnExpression[Any]
    open_holds: SQLColumnExpression[Any]
    open_payout_id: SQLColumnExpression[Any]
    via_payout: SQLColumnExpression[Any]
    # `open_payout_id IS NULL` in a form PostgreSQL can plan as a join (NOT EXISTS), where a
    # scalar subquery is run once a row: what is ready to pay reads it over every finalized
    # post of an organization (~20 ms at 31,000). None: the IS NULL.
    in_no_open_payout: ColumnElement[bool] | None = None


@dataclass(frozen=True)
class Condition:
    """One guard, twice: why a state refuses it (None: allowed), and its SQL form."""

    refusal: Callable[[PostState, uuid.UUID | None], TransitionError | None]
    sql: Callable[[StateSql], ColumnElement[bool]]


def _open_holds_refusal(state: PostState, _via: uuid.UUID | None) -> TransitionError | None:
    if state.open_holds > 0:
        return TransitionError(
            "post_has_open_holds",
            f"The post has {state.open_holds} open hold(s); an admin clears them first.",
        )
    return None


NO_OPEN_HOLD = Condition(_open_holds_refusal, lambda c: c.open_holds == 0)


def _needs_hold_refusal(state: PostState, _via: uuid.UUID | None) -> TransitionError | None:
    if state.open_holds <= 0:
        return TransitionError("post_has_no_open_hold", "The post has no open hold to wait for.")
    return None


AN_OPEN_HOLD = Condition(_needs_hold_refusal, lambda c: c.open_holds > 0)


def _payout_refusal(state: PostState, via: uuid.UUID | None) -> TransitionError | None:
    if state.open_payout_id is not None and state.open_payout_id != via:
        return TransitionError(
            "post_in_open_payout",
            f"The post is in open payout {state.open_payout_id}; pay or cancel that payout "
            "instead.",
            payout_id=state.open_payout_id,
        )
    return None


def _payout_sql(c: StateSql) -> ColumnElement[bool]:
    free = c.open_payout_id.is_(None) if c.in_no_open_payout is None else c.in_no_open_payout
    if isinstance(c.via_payout, Null):  # paid by no batch (or by one not made yet)
        return free
    return or_(free, c.open_payout_id.is_not_distinct_from(c.via_payout))


# In no open payout batch but the one paying it.
NO_OTHER_OPEN_PAYOUT = Condition(_payout_refusal, _payout_sql)

S = PostStatus
# Every status change the lifecycle makes, with its guard (besides `status = from`).
GUARDS: dict[tuple[PostStatus, PostStatus], tuple[Condition, ...]] = {
    # The deadline decision: a post with an open hold is held, never decided.
    (S.TRACKING, S.FINALIZED): (NO_OPEN_HOLD,),
    (S.TRACKING, S.PENDING_CPM): (NO_OPEN_HOLD,),
    (S.TRACKING, S.HELD): (AN_OPEN_HOLD,),
    # A manual rejection, or a deadline decision (the platform never answered, or too few
    # views, which `decide` only answers for a post without holds).
    (S.TRACKING, S.REJECTED): (),
    # The decision a held post waited for, when its last hold is cleared.
    (S.HELD, S.FINALIZED): (NO_OPEN_HOLD,),
    (S.HELD, S.PENDING_CPM): (NO_OPEN_HOLD,),
    (S.HELD, S.REJECTED): (),
    # A tier assigned: the locked views earn.
    (S.PENDING_CPM, S.FINALIZED): (),
    (S.PENDING_CPM, S.REJECTED): (),
    (S.FINALIZED, S.REJECTED): (),
    # Paid: by hand or in a payout batch, never with an open hold, never around a batch.
    (S.FINALIZED, S.PAID): (NO_OPEN_HOLD, NO_OTHER_OPEN_PAYOUT),
    # Restored to the status it was rejected from.
    (S.REJECTED, S.TRACKING): (),
    (S.REJECTED, S.HELD): (),
    (S.REJECTED, S.PENDING_CPM): (),
    (S.REJECTED, S.FINALIZED): (),
}


def _not_in_table(from_status: PostStatus, to_status: PostStatus) -> TransitionError:
    try:
        if to_status is PostStatus.PAID:
            lifecycle.check_mark_paid(from_status)
        elif to_status is PostStatus.REJECTED:
            lifecycle.check_reject(from_status)
        else:
            lifecycle.check_restore(from_status)
    except TransitionError as refused:
        return refused
    return TransitionError(
        "transition_not_allowed", f"A {from_status} post cannot become {to_status}."
    )


def refusal(
    from_status: PostStatus,
    to_status: PostStatus,
    state: PostState,
    via_payout: uuid.UUID | None = None,
) -> TransitionError | None:
    """Why this change does not apply to a post in this state (None: it does)."""
    if state.status is not from_status:
        return TransitionError(
            "post_status_changed", f"The post is {state.status} now, not {from_status}."
        )
    guard = GUARDS.get((from_status, to_status))
    if guard is None:
        return _not_in_table(from_status, to_status)
    for condition in guard:
        refused = condition.refusal(state, via_payout)
        if refused is not None:
            return refused
    return None


def allowed(
    from_status: PostStatus,
    to_status: PostStatus,
    state: PostState,
    via_payout: uuid.UUID | None = None,
) -> bool:
    return refusal(from_status, to_status, state, via_payout) is None


def allowed_sql(
    from_status: PostStatus, to_status: PostStatus, state: StateSql
) -> ColumnElement[bool]:
    """`allowed()` in SQL, for the writer's UPDATE."""
    guard = GUARDS.get((from_status, to_status))
    if guard is None:
        return false()
    return and_(state.status == from_status.value, *(c.sql(state) for c in guard))
