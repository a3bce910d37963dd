"""The policy's rules in SQL, for queries (the Python forms are Policy.rules and
app/domain/lifecycle.py's; tests/domain/test_rule_parity.py holds them equal)."""

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, func

from app.domain import lifecycle
from app.domain.policy import Policy


def deadline_sql(
    policy: Policy,
    aged_from: SQLColumnExpression[Any],
    campaign_finalize_days: SQLColumnExpression[Any],
    decide_after: SQLColumnExpression[Any],
) -> ColumnElement[Any]:
    """A post's deadline in SQL, under its campaign's override."""
    days = lifecycle.finalize_days_sql(campaign_finalize_days, policy.finalize_after_days)
    return lifecycle.deadline_sql(aged_from, days, decide_after)


def min_views_sql(
    policy: Policy, campaign_min_views: SQLColumnExpression[Any]
) -> ColumnElement[Any]:
    return lifecycle.min_views_sql(campaign_min_views, policy.min_views)


def urgent_aged_from_bound_sql(
    policy: Policy, now: datetime, shortest_campaign_days: SQLColumnExpression[Any]
) -> ColumnElement[Any]:
    """The latest age anchor a post can have and still be near its deadline: a deadline is
    never earlier than `aged_from` plus the shortest finalize-after days in force
    (`shortest_campaign_days`: the smallest campaign override, NULL when none), so
    `is_urgent` implies `aged_from <= this`. Lets an index on aged_from bound a scan."""
    days = func.least(policy.finalize_after_days, shortest_campaign_days)
    return (
        now
        + policy.cadence.active
        - func.make_interval(0, 0, 0, 0, 0, 0, days * lifecycle.SECONDS_PER_DAY)
    )
