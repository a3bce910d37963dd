"""The pure rules of watched accounts (issue 29): hashtags, the sieve that picks what joins
the campaign from an account's listing, and the back-off."""

from datetime import UTC, date, datetime, timedelta

from app.domain.watching import (
    Listed,
    Outcome,
    Sieve,
    Skip,
    Terms,
    caption_tags,
    hashtags,
    next_check,
    passes_filters,
)

START = datetime(2026, 3, 1, 12, tzinfo=UTC)
HOUR = timedelta(hours=1)


def post(n: int, hours: float, **fields: object) -> Listed:
    defaults: dict[str, object] = {
        "post_id": str(n),
        "published_at": START + hours * HOUR,
        "is_video": True,
        "author_id": "42",
        "author_handle": "mia",
        "caption": "#ad",
    }
    return Listed(**(defaults | fields))  # type: ignore[arg-type]


def terms(**fields: object) -> Terms:
    defaults: dict[str, object] = {
        "started_at": START,
        "seen_through": None,
        "initial_import": 0,
        "initial_done": False,
        "include": [],
        "exclude": [],
        "creator_user_id": "42",
        "creator_handle": "mia",
        "starts_on": None,
        "ends_on": None,
    }
    return Terms(**(defaults | fields))  # type: ignore[arg-type]


def test_hashtags_are_case_insensitive_with_or_without_the_hash() -> None:
    assert hashtags(["#Ad", "ad", " #Sponsored ", "#"]) == ["ad", "sponsored"]
    tags = caption_tags("Big news! #AD #ThankYou, #collab.")
    assert tags == {"ad", "thankyou", "collab"}
    assert passes_filters(tags, [], [])
    assert passes_filters(tags, ["ad"], [])
    assert not passes_filters(tags, ["giveaway"], [])
    assert not passes_filters(tags, ["ad"], ["collab"])  # an exclusion wins


def test_the_initial_import_takes_exactly_the_most_recent_that_qualify() -> None:
    sieve = Sieve(terms(initial_import=3, exclude=["no"]))
    listing = [
        post(6, -1),
        post(5, -2, is_video=False),  # a carousel: not counted toward the three
        post(4, -3, caption="#no"),  # filtered: not counted either
        post(3, -4),
        post(2, -5),
        post(1, -6),
    ]
    assert not sieve.take(listing)  # three found: no need for another page
    assert [p.post_id for p in sieve.added] == ["6", "3", "2"]
    assert sieve.skipped == {Skip.NOT_A_VIDEO: 1, Skip.FILTERED: 1}
    short = Sieve(terms(initial_import=5))
    assert short.take([post(2, -1), post(1, -2)])  # short of five: read on


def test_later_checks_take_only_what_is_new_and_stop_at_a_page_with_nothing_new() -> None:
    seen = START + 10 * HOUR
    sieve = Sieve(terms(initial_done=True, initial_import=30, seen_through=seen))
    assert sieve.take([post(9, 12), post(8, 11), post(7, 10)])  # something new: read on
    assert not sieve.take([post(6, 9), post(5, 8)])  # nothing new on this page
    assert [p.post_id for p in sieve.added] == ["9", "8"]
    assert sieve.seen == 2
    assert sieve.seen_through() == START + 12 * HOUR
    # Before the watch began (and not in the import): not taken, not counted.
    first = Sieve(terms(initial_done=True))
    first.take([post(1, -1)])
    assert (first.added, first.seen) == ([], 0)


def test_never_another_user_s_video() -> None:
    sieve = Sieve(terms(initial_import=5))
    sieve.take([post(1, -1, author_id="99", author_handle="someone")])
    assert sieve.added == []
    assert sieve.skipped == {Skip.OTHER_AUTHOR: 1}
    assert sieve.someone_elses
    # Until the creator's user id is known, the handle decides.
    unknown = Sieve(terms(initial_import=5, creator_user_id=None))
    unknown.take([post(1, -1, author_handle="MIA"), post(2, -2, author_handle="other")])
    assert [p.post_id for p in unknown.added] == ["1"]
    assert not unknown.someone_elses


def test_the_campaign_s_dates_bound_what_is_added() -> None:
    sieve = Sieve(terms(initial_import=5, starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 1)))
    sieve.take([post(2, 1), post(1, -24)])
    assert [p.post_id for p in sieve.added] == ["2"]
    assert sieve.skipped == {Skip.OUTSIDE_WINDOW: 1}


def test_an_account_that_cannot_be_listed_backs_off() -> None:
    six, week = timedelta(hours=6), timedelta(days=7)
    assert next_check(START, six, Outcome.OK, 0, week) == START + six
    assert next_check(START, six, Outcome.RATE_LIMITED, 3, week) == START + six
    assert next_check(START, six, Outcome.PRIVATE, 1, week) == START + 2 * six
    assert next_check(START, six, Outcome.NOT_FOUND, 2, week) == START + 4 * six
    assert next_check(START, six, Outcome.PRIVATE, 40, week) == START + week
