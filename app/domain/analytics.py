"""The analytics' periods and the arithmetic of their KPI cards, as pure functions: which
posts a period covers, the one before it, averages, rates and changes. No I/O; the
repository counts, the service applies these to the counts (the API and the dashboard show
what they return)."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum


class AnalyticsPeriod(StrEnum):
    """The last 7, 14, 30 or 90 UTC days (today included), or all time."""

    DAYS_7 = "7d"
    DAYS_14 = "14d"
    DAYS_30 = "30d"
    DAYS_90 = "90d"
    ALL = "all"

    @property
    def days(self) -> int | None:
        return None if self is AnalyticsPeriod.ALL else int(self.value[:-1])


@dataclass(frozen=True)
class Window:
    """A period's posts are those whose age counts from (their publish time, else when they
    were added: `posts.aged_from`) `start` or later; the previous period's, from
    `previous_start` up to `start`, the same length just before. All time has neither."""

    first_day: date | None
    start: datetime | None
    previous_start: datetime | None


def window(period: AnalyticsPeriod, today: date) -> Window:
    days = period.days
    if days is None:
        return Window(None, None, None)
    first_day = today - timedelta(days=days - 1)
    start = datetime.combine(first_day, time(), UTC)
    return Window(first_day, start, start - timedelta(days=days))


# Rates and changes as decimal strings with four places ("0.0525" is 5.25 %), rounded
# half-up: exact, and the same in the JSON and on the page.
RATIO_PLACES = Decimal("0.0001")
RATIO_PATTERN = r"^-?[0-9]+\.[0-9]{4}$"


def ratio(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """part / whole to four places, half-up (away from zero for negatives); None when whole
    is 0 (no views: no engagement rate; nothing before: no change)."""
    if whole == 0:
        return None
    value = Decimal(part) / Decimal(whole)
    return value.quantize(RATIO_PLACES, rounding=ROUND_HALF_UP)


def average(total: int, count: int) -> int | None:
    """Views per video, to the whole view, half-up; None without videos. Integer arithmetic,
    exact for any size of sum."""
    if count == 0:
        return None
    whole, rest = divmod(total, count)
    return whole + (1 if 2 * rest >= count else 0)


def engagement_rate(likes: int, comments: int, shares: int, views: int) -> Decimal | None:
    """Interactions (likes, comments and shares) per view."""
    return ratio(likes + comments + shares, views)


def change(current: int | Decimal | None, previous: int | Decimal | None) -> Decimal | None:
    """The relative change from the previous period (0.2500: a quarter more); None when there
    is nothing to compare with (no previous period, or a previous value of 0 or none)."""
    if current is None or previous is None:
        return None
    return ratio(Decimal(current) - Decimal(previous), previous)
