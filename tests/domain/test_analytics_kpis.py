"""The KPI cards' arithmetic (app/domain/analytics.py) at its edges: periods and the one
before, averages and rates rounded half-up, changes with nothing to compare with."""

from datetime import UTC, date, datetime
from decimal import Decimal

from app.domain.analytics import AnalyticsPeriod, average, change, engagement_rate, ratio, window


def test_a_period_is_whole_utc_days_today_included_and_the_previous_is_as_long() -> None:
    w = window(AnalyticsPeriod.DAYS_7, date(2026, 3, 10))
    assert w.first_day == date(2026, 3, 4)
    assert w.start == datetime(2026, 3, 4, tzinfo=UTC)
    assert w.previous_start == datetime(2026, 2, 25, tzinfo=UTC)
    everything = window(AnalyticsPeriod.ALL, date(2026, 3, 10))
    assert (everything.first_day, everything.start, everything.previous_start) == (None,) * 3
    assert [p.days for p in AnalyticsPeriod] == [7, 14, 30, 90, None]


def test_averages_round_half_up_to_the_view_and_are_exact_for_huge_sums() -> None:
    assert average(5, 2) == 3  # 2.5
    assert average(4, 3) == 1  # 1.33
    assert average(0, 3) == 0
    assert average(10, 0) is None
    huge = 2 * (2**63 - 1) + 1
    assert average(huge, 2) == 2**63  # a float would have lost the last digits


def test_rates_and_changes_are_four_places_half_up() -> None:
    assert engagement_rate(1, 0, 0, 20_000) == Decimal("0.0001")  # 0.00005 rounds up
    assert engagement_rate(1, 0, 0, 20_001) == Decimal("0.0000")
    assert engagement_rate(5, 5, 5, 0) is None
    assert change(3, 2) == Decimal("0.5000")
    assert change(1, 3) == Decimal("-0.6667")
    assert change(5, 0) is None  # nothing before: no change to tell
    assert change(5, None) is None
    assert change(None, 5) is None
    assert ratio(Decimal("9.00"), Decimal("18.00")) == Decimal("0.5000")
