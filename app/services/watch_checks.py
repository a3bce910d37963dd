"""What a check of a watched account comes to (issue 29), written in one transaction: the
videos the listing brought (app.domain.watching.Sieve chose them) added through the same
post service as every other intake, each in a savepoint (one refused video never undoes
another), their first stats from the listing written through the same write as any fetch,
and the check's outcome and counts on the watch."""

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import watching
from app.domain.enums import StatsSource
from app.domain.errors import Conflict, DomainError
from app.domain.policy import Policy
from app.domain.refresh import DuePost
from app.domain.watching import Listed, Outcome, Skip
from app.platforms.contract import FetchResult, VideoStats
from app.platforms.urls import PostRef, UrlError, normalize_post_id
from app.repositories import campaigns, claims, creators
from app.repositories import watched_accounts as repo
from app.repositories.watched_accounts import CheckResult, DueWatch
from app.schemas.posts import PostCreate
from app.services import posts, refresh_results
from app.settings import Settings

# The first stats write holds the new posts this long (it happens in the same transaction).
_FIRST_WRITE_LEASE = timedelta(minutes=5)


@dataclass
class Tally:
    """What one check added and skipped (for the watch, the metrics and the log)."""

    outcome: Outcome
    added: list[uuid.UUID] = field(default_factory=list)
    skipped: Counter[Skip] = field(default_factory=Counter)
    seen: int = 0
    written: bool = True  # False: the lease was lost, another worker has the watch


def terms(watch: DueWatch) -> watching.Terms:
    return watching.Terms(
        started_at=watch.started_at,
        seen_through=watch.seen_through,
        initial_import=watch.initial_import,
        initial_done=watch.initial_done,
        include=watch.include_hashtags,
        exclude=watch.exclude_hashtags,
        creator_user_id=watch.platform_user_id,
        creator_handle=watch.handle,
        starts_on=watch.starts_on,
        ends_on=watch.ends_on,
    )


def _stats(item: Listed, source: StatsSource, now: datetime) -> VideoStats | None:
    """The listing's numbers as a fetch's, when it carried them."""
    if item.views is None or item.likes is None or item.comments is None:
        return None
    return VideoStats(
        views=item.views,
        likes=item.likes,
        comments=item.comments,
        shares=item.shares,
        handle=item.author_handle,
        platform_user_id=item.author_id,
        published_at=item.published_at,
        source=source,
        views_field="listing",
        requested_at=now,
        answered_at=now,
    )


async def record(
    session: AsyncSession,
    watch: DueWatch,
    outcome: Outcome,
    error: str | None,
    sieve: watching.Sieve | None,
    source: StatsSource,
    now: datetime,
    settings: Settings,
    policy: Policy,
) -> Tally:
    """Adds what the sieve kept (when the listing answered) and records the check."""
    tally = Tally(outcome)
    if sieve is not None:
        tally.skipped.update(sieve.skipped)
        tally.seen = sieve.seen
        if sieve.someone_elses:
            # The listing is another user's: nothing from it is added, and the watch says so.
            tally.outcome = Outcome.OTHER_AUTHOR
        else:
            await _add(session, watch, sieve, source, now, policy, tally)
    failures = 0 if tally.outcome is Outcome.OK else watch.consecutive_failures + 1
    interval = timedelta(hours=settings.watch_interval_hours)
    longest = timedelta(hours=settings.watch_backoff_max_hours)
    listed = sieve is not None and not sieve.someone_elses
    tally.written = await repo.record_check(
        session,
        watch,
        CheckResult(
            outcome=tally.outcome.value,
            error=error,
            failures=failures,
            next_check_at=watching.next_check(now, interval, tally.outcome, failures, longest),
            seen_through=sieve.seen_through() if listed and sieve else watch.seen_through,
            initial_done=watch.initial_done or listed,
            seen=tally.seen,
            added=len(tally.added),
            skipped={k.value: v for k, v in tally.skipped.items()},
        ),
        now,
    )
    return tally


async def _add(
    session: AsyncSession,
    watch: DueWatch,
    sieve: watching.Sieve,
    source: StatsSource,
    now: datetime,
    policy: Policy,
    tally: Tally,
) -> None:
    if not sieve.added:
        return
    campaign = await campaigns.get(session, watch.organization_id, watch.campaign_id)
    if (
        campaign is None
        or await creators.get_member(session, watch.campaign_id, watch.creator_id) is None
    ):
        tally.outcome = Outcome.NOT_MEMBER
        return
    first_stats: dict[uuid.UUID, VideoStats] = {}
    # Oldest first: posts are created in the order they were published.
    for item in reversed(sieve.added):
        try:
            ref = PostRef(watch.platform, normalize_post_id(watch.platform, item.post_id))
        except UrlError:
            tally.skipped[Skip.NOT_A_VIDEO] += 1
            continue
        body = PostCreate(
            platform=watch.platform, platform_post_id=ref.post_id, creator_id=watch.creator_id
        )
        try:
            async with session.begin_nested():
                post = await posts.create(session, None, campaign, body, ref, watch_id=watch.id)
        except Conflict as exc:
            if exc.code == "campaign_ended":
                tally.skipped[Skip.OUTSIDE_WINDOW] += 1
            else:  # post_exists, and a handle that names another creator
                tally.skipped[
                    Skip.ALREADY_TRACKED if exc.code == "post_exists" else Skip.OTHER_AUTHOR
                ] += 1
            continue
        except DomainError:
            tally.skipped[Skip.OTHER_AUTHOR] += 1
            continue
        except IntegrityError:  # another writer added the same video meanwhile
            tally.skipped[Skip.ALREADY_TRACKED] += 1
            continue
        tally.added.append(post.id)
        stats = _stats(item, source, now)
        if stats is not None:
            first_stats[post.id] = stats
    # Their first stats, from the listing, through the write every fetch goes through
    # (authorship by platform user id, the campaign's window, flags, the schedule).
    due = await claims.lease_new(session, list(first_stats), now, _FIRST_WRITE_LEASE)
    items: list[tuple[DuePost, FetchResult]] = [(p, first_stats[p.id]) for p in due]
    if items:
        await refresh_results.write(session, items, now, policy)
