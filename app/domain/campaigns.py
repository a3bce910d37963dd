"""A campaign's status as everyone reads it. The stored status is what a person set; a
campaign whose `ends_on` has passed is ended whatever was set, so no job has to flip it and a
campaign cannot keep taking posts after its last day. `ends_on` is a UTC calendar day and the
campaign runs through the whole of it: it reads `ended` from 00:00 UTC the next day.
Extending `ends_on` reopens it with its stored status.

The SQL form sits beside the Python one (tests/domain/test_rule_parity.py checks they agree)."""

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, case, literal

from app.domain.enums import CampaignStatus
from app.domain.errors import Conflict


def today(now: datetime) -> date:
    """The UTC calendar day of `now`."""
    return now.astimezone(UTC).date()


def status_at(stored: CampaignStatus, ends_on: date | None, now: datetime) -> CampaignStatus:
    """The campaign's status at `now`: `ended` once past the end of `ends_on` (UTC)."""
    if ends_on is not None and ends_on < today(now):
        return CampaignStatus.ENDED
    return stored


def status_sql(
    stored: SQLColumnExpression[Any], ends_on: SQLColumnExpression[Any], now: datetime
) -> ColumnElement[Any]:
    """`status_at` in SQL. `now` is bound from Python (not the database's clock), so the
    API, a query and the parity test agree on the day."""
    return case(
        (and_(ends_on.is_not(None), ends_on < literal(today(now))), CampaignStatus.ENDED.value),
        else_=stored,
    )


def ensure_takes_posts(stored: CampaignStatus, ends_on: date | None, now: datetime) -> None:
    """Every intake path (the API, bulk paste, Discord) asks this before adding a post."""
    if status_at(stored, ends_on, now) is not CampaignStatus.ENDED:
        return
    if stored is CampaignStatus.ENDED:
        raise Conflict("campaign_ended", "The campaign has ended; it takes no new posts.")
    raise Conflict(
        "campaign_ended",
        f"The campaign ended with its last day, {ends_on} (UTC); it takes no new posts. "
        "Extend ends_on to reopen it.",
    )


def outside_campaign_window(
    published_at: datetime, starts_on: date | None, ends_on: date | None
) -> bool:
    """Published before the campaign's first day or after its last (UTC calendar days)."""
    day = published_at.astimezone(UTC).date()
    return (starts_on is not None and day < starts_on) or (ends_on is not None and day > ends_on)
