"""The post lifecycle as pure functions: what a post becomes at its deadline, what it earns,
and which manual transitions are allowed. No I/O; the services and the worker apply the
results through the one transition writer (app/repositories/transitions.py).

A rule that a query needs has its SQL form here too (`*_sql`, a SQLAlchemy expression over
the columns the caller passes in), right beside the Python one; tests/domain/test_rule_parity.py
checks that PostgreSQL and Python agree. No query retypes a rule in SQL text."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from typing import Any

from sqlalchemy import ColumnElement, Numeric, SQLColumnExpression, case, cast, func, literal

from app.domain.enums import PostStatus
from app.domain.errors import Conflict

CENT = Decimal("0.01")
# Digits of the largest earnings before rounding: a bigint of views (19) times a cpm of
# NUMERIC(12,4) (12), with room to spare. The earnings column is NUMERIC(28,2), which holds
# every amount that product can round to (9.3e18 x 1e8 / 1000 < 1e24).
EXACT_DIGITS = 40
# Days are exactly 24 h, in Python and in SQL alike: calendar days would move with DST.
SECONDS_PER_DAY = 86_400


class TransitionError(Conflict):
    """A status change the lifecycle does not allow; `code` names the rule."""


@dataclass(frozen=True)
class Rules:
    min_views: int
    finalize_after: timedelta


@dataclass(frozen=True)
class Tier:
    cpm: Decimal
    cap: Decimal | None
    name: str | None = None  # for the evidence; the rules read only the terms


@dataclass(frozen=True)
class Decision:
    status: PostStatus
    locked_views: int | None = None
    earnings: Decimal | None = None
    rejection_code: str | None = None
    rejection_reason: str | None = None


def rules_for(
    default_min_views: int,
    default_finalize_days: int,
    campaign_min_views: int | None,
    campaign_finalize_days: int | None,
) -> Rules:
    """A campaign's own rules: its overrides where it has them, else the defaults."""
    return Rules(
        min_views=default_min_views if campaign_min_views is None else campaign_min_views,
        finalize_after=timedelta(
            days=default_finalize_days if campaign_finalize_days is None else campaign_finalize_days
        ),
    )


def finalize_days_sql(
    campaign_finalize_days: SQLColumnExpression[Any], default_finalize_days: int
) -> ColumnElement[int]:
    """`rules_for(...).finalize_after` in whole days, in SQL."""
    return func.coalesce(campaign_finalize_days, default_finalize_days)


def min_views_sql(
    campaign_min_views: SQLColumnExpression[Any], default_min_views: int
) -> ColumnElement[int]:
    """`rules_for(...).min_views`, in SQL."""
    return func.coalesce(campaign_min_views, default_min_views)


def meets_min_views(views: int, min_views: int) -> bool:
    """Whether a post's views qualify it for payment (the minimum itself qualifies)."""
    return views >= min_views


def meets_min_views_sql(
    views: SQLColumnExpression[Any], min_views: SQLColumnExpression[Any]
) -> ColumnElement[bool]:
    """`meets_min_views()` in SQL; `min_views` is `min_views_sql(...)`."""
    return views >= min_views


def deadline(aged_from: datetime, rules: Rules, decide_after: datetime | None = None) -> datetime:
    """When a tracking post is decided: `finalize_after` past its age anchor, or later if an
    admin restored it since (its decision then waits for stats fetched after the restore)."""
    due = aged_from + rules.finalize_after
    return max(due, decide_after) if decide_after else due


def deadline_sql(
    aged_from: SQLColumnExpression[Any],
    finalize_days: SQLColumnExpression[Any],
    decide_after: SQLColumnExpression[Any],
) -> ColumnElement[datetime]:
    """`deadline()` in SQL. `finalize_days` is `finalize_days_sql(...)`. make_interval(secs)
    adds exact seconds; an interval of days would follow the session's DST rules."""
    due = aged_from + func.make_interval(0, 0, 0, 0, 0, 0, finalize_days * SECONDS_PER_DAY)
    # greatest() ignores NULLs, as max() over the present values does.
    return func.greatest(due, decide_after)


@dataclass(frozen=True)
class Earned:
    """The earnings rule's steps, so evidence can show the arithmetic it was decided with."""

    exact: Decimal  # views x cpm / 1000, unrounded
    rounded: Decimal  # half-up to cents
    amount: Decimal  # rounded, or the cap if that is lower

    @property
    def capped(self) -> bool:
        return self.amount < self.rounded


def earned(locked_views: int, tier: Tier) -> Earned:
    """min(views x cpm / 1000, cap), rounded half-up to cents once. Exact for any view count
    a platform can report (a bigint) at any cpm a tier can hold: the default context's 28
    digits would round the product before the cents are taken."""
    with localcontext(prec=EXACT_DIGITS):
        exact = Decimal(locked_views) * tier.cpm / 1000
        rounded = exact.quantize(CENT, rounding=ROUND_HALF_UP)
    return Earned(exact, rounded, rounded if tier.cap is None else min(rounded, tier.cap))


def earnings(locked_views: int, tier: Tier) -> Decimal:
    return earned(locked_views, tier).amount


_THOUSANDTH = literal(Decimal("0.001"), Numeric(4, 3))


def earnings_sql(
    views: SQLColumnExpression[Any], cpm: SQLColumnExpression[Any], cap: SQLColumnExpression[Any]
) -> ColumnElement[Decimal]:
    """`earnings()` in SQL. PostgreSQL's round(numeric) rounds halves away from zero, which
    for amounts that are never negative is half-up. NULL when there is no tier (cpm NULL)."""
    # Times 0.001, not divided by 1000: PostgreSQL rounds a numeric quotient to a scale of its
    # choosing (four places here, from cpm) before round() takes the cents, while a product
    # is exact.
    amount = func.round(cast(views, Numeric) * cpm * _THOUSANDTH, 2)
    return case((cap.is_(None), amount), else_=func.least(amount, cap))


def decide(
    views: int,
    tier: Tier | None,
    rules: Rules,
    *,
    held: bool = False,
    never_answered: str | None = None,
) -> Decision:
    """The deadline decision for a `tracking` post, on stats fresh enough to decide on, or
    the decision a `held` post gets when its last hold is cleared (on its locked views).
    `held`: the post has an open hold, so it waits for a person with its views locked.
    `never_answered`: the platform never gave stats for it (the last error, in words); then
    a count of 0 says nothing about the video, and the rejection names the real cause."""
    if never_answered is not None:
        return Decision(
            PostStatus.REJECTED,
            rejection_code="unavailable",
            rejection_reason=(
                "The platform never answered with stats for this video by its deadline; "
                f"last error: {never_answered}"
            ),
        )
    if held:
        return Decision(PostStatus.HELD, locked_views=views)
    if not meets_min_views(views, rules.min_views):
        return Decision(
            PostStatus.REJECTED,
            rejection_code="below_min_views",
            rejection_reason=(
                f"{views:,} views at the deadline; at least {rules.min_views:,} are needed."
            ),
        )
    if tier is None:
        return Decision(PostStatus.PENDING_CPM, locked_views=views)
    return Decision(PostStatus.FINALIZED, locked_views=views, earnings=earnings(views, tier))


# Which posts each person's action applies to, by status: the checks below refuse the rest,
# and the dashboard offers an action only where some post it lists may take it.
TIER_ASSIGNABLE = frozenset({PostStatus.TRACKING, PostStatus.HELD, PostStatus.PENDING_CPM})
REJECTABLE = frozenset(PostStatus) - {PostStatus.PAID, PostStatus.REJECTED}
RESTORABLE = frozenset({PostStatus.REJECTED})


def check_tier_assignment(status: PostStatus) -> None:
    if status in TIER_ASSIGNABLE:
        return
    if status is PostStatus.REJECTED:
        raise TransitionError("post_rejected", "The post is rejected; restore it first.")
    raise TransitionError("post_locked", f"The post is {status}; its tier and earnings are locked.")


def check_reject(status: PostStatus) -> None:
    if status in REJECTABLE:
        return
    if status is PostStatus.PAID:
        raise TransitionError("post_paid", "A paid post cannot be rejected.")
    raise TransitionError("post_already_rejected", "The post is already rejected.")


def check_restore(status: PostStatus) -> None:
    if status not in RESTORABLE:
        raise TransitionError(
            "post_not_rejected", f"Only a rejected post can be restored; this one is {status}."
        )


def check_mark_paid(status: PostStatus) -> None:
    if status is not PostStatus.FINALIZED:
        raise TransitionError(
            "post_not_finalized", f"Only a finalized post can be marked paid; this one is {status}."
        )
