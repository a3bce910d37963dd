"""The campaign window and authorship rules (app/domain/holds.py) as pure functions, at their
edges."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from app.domain.authorship import Author, mismatch_reason, same_handle
from app.domain.campaigns import outside_campaign_window

DAY = date(2026, 11, 1)
MIDNIGHT = datetime(2026, 11, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("published", "starts_on", "ends_on", "held"),
    [
        (MIDNIGHT, DAY, None, False),  # the first instant of starts_on
        (MIDNIGHT - TICK, DAY, None, True),  # the last instant before it
        (MIDNIGHT + timedelta(days=1) - TICK, None, DAY, False),  # the last instant of ends_on
        (MIDNIGHT + timedelta(days=1), None, DAY, True),  # the first after it
        (MIDNIGHT, DAY, DAY, False),  # a one-day campaign
        (MIDNIGHT + timedelta(hours=23), DAY, DAY, False),
        # Days are UTC days: 01:00 at +02:00 is 23:00 UTC the day before, 23:00 at -02:00 is
        # 01:00 UTC the day after.
        (datetime(2026, 11, 1, 1, tzinfo=timezone(timedelta(hours=2))), DAY, None, True),
        (datetime(2026, 11, 1, 23, tzinfo=timezone(timedelta(hours=-2))), None, DAY, True),
        (datetime(2026, 11, 2, 1, tzinfo=timezone(timedelta(hours=2))), None, DAY, False),
        (datetime(2026, 10, 31, 23, tzinfo=timezone(timedelta(hours=-2))), DAY, None, False),
    ],
)
def test_the_campaign_window_includes_its_first_and_last_utc_day(
    published: datetime, starts_on: date | None, ends_on: date | None, held: bool
) -> None:
    assert outside_campaign_window(published, starts_on, ends_on) is held


@pytest.mark.parametrize(
    ("creator", "found", "owner", "says"),
    [
        (Author("lena.moves", None), Author("lena.moves", "42"), "lena_two", "@lena_two's"),
        (Author("lena.moves", "41"), Author("Lena.Moves", "42"), None, "account 41"),
        (Author("lena.moves", "41"), Author("mia", "42"), None, "not @lena.moves"),
        (Author("lena.moves", None), Author(None, "42"), None, "account 42"),
    ],
)
def test_a_held_reason_names_two_different_people(
    creator: Author, found: Author, owner: str | None, says: str
) -> None:
    reason = mismatch_reason(creator, found, owner=owner)
    assert says in reason
    if found.handle is not None and same_handle(found.handle, creator.handle or ""):
        assert f"not @{creator.handle}" not in reason.replace("'s", "")
