"""The thresholds in force (from settings), and a campaign's own rules derived from them.
Their SQL forms, for queries, are app/domain/policy_sql.py's."""

from dataclasses import dataclass, field
from datetime import timedelta

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
