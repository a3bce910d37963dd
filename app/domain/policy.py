"""The thresholds in force (from settings), and a campaign's own rules derived from them."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, func

from app.domain import lifecycle, schedule
from app.domain.integrity import Thresholds
from app.settings import Settings


@dataclass(frozen=True)
class Policy:
    cadence: schedule.Cadence
    min_views: int
    finalize_after_days: int
    integrity: Thresholds = field(default_factory=Thresholds)
    # Stats observed longer than this after a deadline make a late decision (domain.evidence).
    late_tolerance: timedelta = timedelta(hours=1)

    @classmethod
    def from_settings(cls, settings: Settings) -> "Policy":
        return cls(
            cadence=schedule.Cadence(
                active=timedelta(hours=settings.active_refresh_interval_hours),
                settled=timedelta(hours=settings.finalized_refresh_interval_hours),
                window=timedelta(days=settings.refresh_window_days),
                retry=timedelta(seconds=settings.failed_fetch_retry_seconds),
            ),
            min_views=settings.min_views,
            finalize_after_days=settings.finalize_after_days,
            integrity=Thresholds.from_settings(settings),
            late_tolerance=timedelta(minutes=settings.late_stats_tolerance_minutes),
        )

    def rules(self, min_views: int | None, finalize_after_days: int | None) -> lifecycle.Rules:
        """The rules for a campaign with these overrides (None: the default)."""
        return lifecycle.rules_for(
            self.min_views, self.finalize_after_days, min_views, finalize_after_days
        )

    def deadline_sql(
        self,
        aged_from: SQLColumnExpression[Any],
        campaign_finalize_days: SQLColumnExpression[Any],
        decide_after: SQLColumnExpression[Any],
    ) -> ColumnElement[Any]:
        """A post's deadline in SQL, under its campaign's override."""
        days = lifecycle.finalize_days_sql(campaign_finalize_days, self.finalize_after_days)
        return lifecycle.deadline_sql(aged_from, days, decide_after)

    def min_views_sql(self, campaign_min_views: SQLColumnExpression[Any]) -> ColumnElement[Any]:
        return lifecycle.min_views_sql(campaign_min_views, self.min_views)

    def urgent_aged_from_bound_sql(
        self, now: datetime, shortest_campaign_days: SQLColumnExpression[Any]
    ) -> ColumnElement[Any]:
        """The latest age anchor a post can have and still be near its deadline: a deadline
        is never earlier than `aged_from` plus the shortest finalize-after days in force
        (`shortest_campaign_days`: the smallest campaign override, NULL when none), so
        `is_urgent` implies `aged_from <= this`. Lets an index on aged_from bound a scan."""
        days = func.least(self.finalize_after_days, shortest_campaign_days)
        return (
            now
            + self.cadence.active
            - func.make_interval(0, 0, 0, 0, 0, 0, days * lifecycle.SECONDS_PER_DAY)
        )
