"""Watched accounts (issue 29): the pure rules that decide which of an account's listed
posts join the campaign, and when the account is looked at next.

A listed post is added when, in this order:
1. it is a video (Instagram: a Reel; carousels and images are `not_a_video`);
2. it is the watched creator's, by platform user id (`other_author` otherwise);
3. it is new: published after the watch began, or one of the initial import's most recent
   videos (`outside_window` otherwise: older than the watch and not in the import);
4. it passes the hashtag filters (`filtered`);
5. it is inside the campaign's dates (`outside_window`);
6. the organization does not track it yet (`already_tracked`, decided by the post service).
"""

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum

from app.domain.authorship import same_handle
from app.domain.enums import Platform

INITIAL_IMPORT_SIZES = (0, 5, 10, 15, 30)
MAX_HASHTAGS = 20
# Spelled-out whitespace, not `\s`: the API's schema states this pattern to clients, and `\s`
# means other characters in JSON Schema's regex dialect than in Python's (the fuzzer of drill
# 7 found a tag one accepted and the other refused).
HASHTAG_PATTERN = r"^#?[^ \t\n\r\f\v#\x00]{1,100}$"
_HASHTAG = re.compile(r"#([^\s#.,!?;:()\[\]{}\"'/\\]+)")

# Platforms whose accounts can be watched: those with an account listing (a YouTube
# channel's: its uploads playlist, playlistItems.list, 1 quota unit a page).
WATCHABLE = frozenset({Platform.TIKTOK, Platform.INSTAGRAM, Platform.YOUTUBE})
# Listed by platform user id rather than handle: a YouTube channel's uploads playlist is
# named after its channel id (and a YouTube creator always has one).
LISTED_BY_ID = frozenset({Platform.YOUTUBE})


def listing_name(platform: Platform, handle: str, platform_user_id: str | None) -> str:
    """What an account's listing is asked for: its handle, or a YouTube channel's id."""
    if platform in LISTED_BY_ID and platform_user_id:
        return platform_user_id
    return handle


SOURCE_WATCHED = "watched_account"
SOURCE_SUBMITTED = "submitted"


class Skip(StrEnum):
    """Why a listed post was not added: the watch's `skipped` counts and the metrics."""

    FILTERED = "filtered"  # the hashtag filters left it out
    OUTSIDE_WINDOW = "outside_window"  # before the watch (not in the import), or the dates
    ALREADY_TRACKED = "already_tracked"  # the organization tracks it (one video, once)
    NOT_A_VIDEO = "not_a_video"  # a carousel or an image
    OTHER_AUTHOR = "other_author"  # the listing named another account as its author


class Outcome(StrEnum):
    """What a check of the account came to (the watch's `last_outcome`)."""

    OK = "ok"
    PRIVATE = "private"
    NOT_FOUND = "not_found"
    RATE_LIMITED = "rate_limited"
    QUOTA_EXHAUSTED = "quota_exhausted"
    AUTH = "auth"
    UPSTREAM_ERROR = "upstream_error"
    OTHER_AUTHOR = "other_author"  # the listing is another user's: nothing added
    NOT_MEMBER = "not_member"  # the creator left the campaign: nothing added


# Outcomes that are the platform's considered answer about the account: asking again every
# interval changes nothing soon, so the next check backs off.
BACKS_OFF = frozenset(
    {Outcome.PRIVATE, Outcome.NOT_FOUND, Outcome.OTHER_AUTHOR, Outcome.NOT_MEMBER}
)


def hashtag(value: str) -> str:
    """A filter's tag as stored and compared: no `#`, lower case."""
    return value.strip().removeprefix("#").casefold()


def hashtags(values: Iterable[str]) -> list[str]:
    """Normalized, without duplicates, in the order given."""
    return list(dict.fromkeys(hashtag(v) for v in values if hashtag(v)))


def caption_tags(caption: str | None) -> frozenset[str]:
    return frozenset(t.casefold() for t in _HASHTAG.findall(caption or ""))


def passes_filters(tags: frozenset[str], include: Sequence[str], exclude: Sequence[str]) -> bool:
    """Included: no include list, or any of its tags; and none of the excluded tags."""
    if any(t in tags for t in exclude):
        return False
    return not include or any(t in tags for t in include)


def in_campaign_dates(
    published_at: datetime | None, starts_on: date | None, ends_on: date | None
) -> bool:
    """A video published on the campaign's first to last day (UTC), inclusive; unknown
    publish times are left to the post's own window check."""
    if published_at is None:
        return True
    day = published_at.astimezone(UTC).date()
    return (starts_on is None or day >= starts_on) and (ends_on is None or day <= ends_on)


def next_check(
    now: datetime, interval: timedelta, outcome: Outcome, failures: int, longest: timedelta
) -> datetime:
    """The next look at the account: one interval after a good check or a passing failure
    (rate limits, outages: the next interval is soon enough); after an answer that says the
    account cannot be listed (private, gone, someone else's), the interval doubled for each
    such answer in a row, up to `longest`."""
    if outcome not in BACKS_OFF:
        return now + interval
    return now + min(interval * (1 << min(max(failures, 1), 16)), longest)


@dataclass(frozen=True)
class Listed:
    """One post of an account's listing, as the provider described it."""

    post_id: str
    published_at: datetime | None
    is_video: bool
    author_id: str | None
    author_handle: str | None
    caption: str | None
    views: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None


@dataclass(frozen=True)
class Terms:
    """What a check of one watch decides by."""

    started_at: datetime  # when the watch began: later videos are new
    seen_through: datetime | None  # the newest publish time a previous check saw
    initial_import: int  # how many of the most recent older videos the first check takes
    initial_done: bool  # the first check happened
    include: Sequence[str]
    exclude: Sequence[str]
    creator_user_id: str | None  # None: not known yet (the first stats write binds it)
    creator_handle: str
    starts_on: date | None
    ends_on: date | None

    @property
    def cutoff(self) -> datetime:
        """Videos published after this are new to the watch."""
        if self.seen_through is None:
            return self.started_at
        return max(self.started_at, self.seen_through)


@dataclass
class Sieve:
    """Reads an account's listing page by page, newest first, and keeps what joins the
    campaign. `take(page)` says whether the next page is worth reading: on the first check
    while the initial import is short of its number, later while the page had anything
    new."""

    terms: Terms
    added: list[Listed] = field(default_factory=list)
    skipped: Counter[Skip] = field(default_factory=Counter)
    seen: int = 0
    imported: int = 0
    newest: datetime | None = None
    mine: int = 0  # posts the listing attributes to the creator
    others: int = 0  # posts it attributes to someone else

    def take(self, page: Sequence[Listed]) -> bool:
        cutoff = self.terms.cutoff
        importing = not self.terms.initial_done
        anything_new = False
        for item in page:
            if item.published_at is not None and (
                self.newest is None or item.published_at > self.newest
            ):
                self.newest = item.published_at
            new = item.published_at is not None and item.published_at > cutoff
            anything_new = anything_new or new
            wanted_for_import = importing and not new and self.imported < self.terms.initial_import
            if not new and not wanted_for_import:
                continue
            self.seen += 1
            reason = self._reason(item)
            if reason is None and wanted_for_import:
                self.imported += 1
            if reason is None and not in_campaign_dates(
                item.published_at, self.terms.starts_on, self.terms.ends_on
            ):
                reason = Skip.OUTSIDE_WINDOW
            if reason is None:
                self.added.append(item)
            else:
                self.skipped[reason] += 1
        if importing and self.imported < self.terms.initial_import:
            return True
        return anything_new

    def _reason(self, item: Listed) -> Skip | None:
        if not item.is_video:
            return Skip.NOT_A_VIDEO
        if not self._creators(item):
            self.others += 1
            return Skip.OTHER_AUTHOR
        self.mine += 1
        if not passes_filters(caption_tags(item.caption), self.terms.include, self.terms.exclude):
            return Skip.FILTERED
        return None

    def _creators(self, item: Listed) -> bool:
        """The creator's post: by platform user id when both are known; until the creator's
        is known, by handle (a renamed account then waits for its id to be bound by a
        fetch, rather than risk another user's videos)."""
        wanted = self.terms.creator_user_id
        if wanted is not None and item.author_id is not None:
            return item.author_id == wanted
        return item.author_handle is None or same_handle(
            item.author_handle, self.terms.creator_handle
        )

    @property
    def someone_elses(self) -> bool:
        """The listing named only other accounts as authors: it is not the creator's."""
        return self.others > 0 and self.mine == 0

    def seen_through(self) -> datetime | None:
        previous = self.terms.seen_through
        if self.newest is None or (previous is not None and previous >= self.newest):
            return previous
        return self.newest
