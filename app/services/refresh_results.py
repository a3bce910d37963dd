"""Writing one batch of fetch results, in one transaction, as the steps of one write (the
refresher's result queue calls `write` once per batch): plan each post's next fetch (pure),
write the batch's stats (repositories/stats.py, a handful of statements whatever its size),
record the failures and skips, check who posted each video (services/authorship.py decides,
this writes the creators' renames and binds) and what the stats call for (flags, holds),
decide the tracking posts whose deadline has come on the stats just written, and count the
results toward their refresh runs."""

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import integrity, schedule
from app.domain.enums import PostStatus
from app.domain.policy import Policy
from app.platforms.contract import FetchError, FetchResult, Skipped, VideoStats, outcome_code
from app.repositories import creators, holds, runs
from app.repositories import stats as stats_repo
from app.repositories.claims import DuePost
from app.services import (
    authorship,
    decisions,
    flag_checks,
    run_presenter,
    transitions,
    window_holds,
)
from app.webhooks import outbox

# The outcome of a fetch whose result the database refused (see unwritable()).
WRITE_FAILED = "write_failed"


def _deadline(post: DuePost, published_at: datetime | None, policy: Policy) -> datetime:
    return decisions.deadline_of(
        policy,
        campaign_min_views=post.min_views,
        campaign_finalize_days=post.finalize_after_days,
        aged_from=published_at or post.published_at or post.created_at,
        decide_after=post.decide_after,
    )


def _next_without_stats(
    post: DuePost, now: datetime, policy: Policy, *, failed: bool
) -> datetime | None:
    """The next fetch of a post this fetch told nothing new about; a failure counts toward
    the streak that shortens the retry."""
    failures = post.consecutive_failures + 1 if failed else 0
    return schedule.next_refresh(
        post.status,
        post.published_at or post.created_at,
        now,
        policy.cadence,
        deadline=_deadline(post, None, policy),
        failures=failures,
    )


def outcome_of(result: FetchResult) -> str:
    if isinstance(result, VideoStats):
        return "refreshed"
    return "skipped" if isinstance(result, Skipped) else "failed"


@dataclass(frozen=True)
class Plan:
    """What a batch's answers decide before anything is written (pure): the stats to apply
    and each one's next fetch, the suspicious drops held back for a recheck, and the
    failures and skips with theirs."""

    applied: list[tuple[DuePost, VideoStats]]
    next_at: list[datetime | None]
    drops: list[tuple[DuePost, VideoStats]]
    recheck: datetime
    failures: list[stats_repo.Failure]
    skips: list[stats_repo.Skip]


def plan(items: list[tuple[DuePost, FetchResult]], now: datetime, policy: Policy) -> Plan:
    # A count far below the last known one is applied only when a second answer says so too.
    applied: list[tuple[DuePost, VideoStats]] = []
    drops: list[tuple[DuePost, VideoStats]] = []
    failures: list[stats_repo.Failure] = []
    skips: list[stats_repo.Skip] = []
    for post, result in items:
        if isinstance(result, VideoStats):
            (drops if _unconfirmed(post, result, policy) else applied).append((post, result))
        elif isinstance(result, FetchError):
            failures.append(_failure(post, result, now, policy))
        elif isinstance(result, Skipped):
            nxt = _next_without_stats(post, now, policy, failed=False)
            skips.append(stats_repo.Skip(post, outcome_code(result), nxt))
    # Scheduled as it stands; a decision below adjusts it (rejected: never again).
    next_at = [
        schedule.next_refresh(
            post.status,
            stats.published_at or post.published_at or post.created_at,
            now,
            policy.cadence,
            deadline=_deadline(post, stats.published_at, policy),
        )
        for post, stats in applied
    ]
    return Plan(applied, next_at, drops, now + policy.integrity.recheck_after, failures, skips)


def _failure(post: DuePost, e: FetchError, now: datetime, policy: Policy) -> stats_repo.Failure:
    return stats_repo.Failure(
        post,
        e.kind.value,
        outcome_code(e),
        e.message.replace("\x00", "")[:1000],
        _next_without_stats(post, now, policy, failed=True),
    )


async def write(
    session: AsyncSession,
    items: list[tuple[DuePost, FetchResult]],
    now: datetime,
    policy: Policy,
) -> Counter[str]:
    """Write one batch of results. Returns counts by outcome."""
    todo = plan(items, now, policy)
    # Who listens is read once: the batch's events are built for those organizations alone.
    listening = await outbox.listening(session, {post.organization_id for post, _ in items})
    # 1. The fetches themselves: stats and snapshots, drops held back, failures, skips.
    snapshots = await stats_repo.write_stats(session, todo.applied, todo.next_at, now, applied=True)
    unconfirmed = await stats_repo.write_stats(
        session, todo.drops, [todo.recheck] * len(todo.drops), now, applied=False
    )
    failed = await stats_repo.record_failures(session, todo.failures, now)
    skipped = await stats_repo.record_skips(session, todo.skips, now)
    written = {*snapshots, *unconfirmed, *failed, *skipped}  # rows whose lease still held
    landed_ok = [(p, s) for p, s in todo.applied if p.id in snapshots]
    # 2. What the stats just written call for: who posted each video (decided here, its
    # creators' renames and binds written after the flags, and the videos that waited for a
    # bind decided then), the campaign's window, flags; then the holds they all raise, in
    # that order, and the deadline decisions.
    authors = await authorship.verify(session, landed_ok)
    flag_holds = await flag_checks.check(
        session, landed_ok, snapshots, now, policy.integrity, listening
    )
    renamed = await creators.rename_many(session, authors.renames, now)
    bound = await creators.bind_many(session, authors.binds, now)
    new_holds = [
        *authors.holds,
        *await authorship.after_binds(session, authors, bound),
        *window_holds.window_holds(landed_ok),
        *flag_holds,
    ]
    raised = Counter(h.post_id for h in await holds.raise_many(session, new_holds, now))
    due = [
        candidate(
            post,
            stats.views,
            policy,
            open_holds=post.open_holds + raised[post.id],
            observed_at=now,
            snapshot_id=snapshots[post.id],
            published_at=stats.published_at,
        )
        for post, stats in landed_ok
        if post.status is PostStatus.TRACKING and _deadline(post, stats.published_at, policy) <= now
    ]
    decided = await decisions.decide_quietly(session, due, now, policy.late_tolerance)
    for status, n in Counter(item.transition.to_status for item in decided).items():
        decisions.TRANSITIONS.labels(status.value).inc(n)
    # 3. Counted toward their runs (the runs no post waits for any more finish), then every
    # event of the batch in one write.
    landed = [(p, r.source.value, outcome_of(r)) for p, r in items if p.id in written]
    keyed = Counter(
        (p.refresh_run_id, source, outcome)
        for p, source, outcome in landed
        if p.refresh_run_id is not None
    )
    finished = await runs.count_results(session, keyed, now) if keyed else []
    await outbox.emit_many(
        session,
        [
            *await authorship.renamed_events(session, renamed, listening),
            *await transitions.events(session, transitions.changed(decided), listening),
            *await run_presenter.finished_events(session, finished, listening),
        ],
        now=now,
    )
    return Counter(outcome for _, _, outcome in landed)


def candidate(
    post: DuePost,
    views: int,
    policy: Policy,
    *,
    open_holds: int,
    observed_at: datetime,
    snapshot_id: int | None,
    published_at: datetime | None,
) -> decisions.Candidate:
    """The decision's inputs (decisions.candidate builds them, as for the sweep and for a
    cleared hold), aged from the publish time the answer just gave if it gave one."""
    return decisions.candidate(
        policy,
        post_id=post.id,
        views=views,
        open_holds=open_holds,
        cpm_tier_id=post.cpm_tier_id,
        cpm=post.cpm,
        cap=post.cap,
        tier_name=post.tier_name,
        campaign_min_views=post.min_views,
        campaign_finalize_days=post.finalize_after_days,
        aged_from=published_at or post.published_at or post.created_at,
        decide_after=post.decide_after,
        added_at=post.created_at,
        observed_at=observed_at,
        snapshot_id=snapshot_id,
    )


def _unconfirmed(post: DuePost, stats: VideoStats, policy: Policy) -> bool:
    """A suspicious drop not yet confirmed: far below the count the post has (a first fetch
    has none), where the fetch before it was not one already (this one then confirms it)."""
    if post.last_refreshed_at is None or post.unconfirmed_views is not None:
        return False
    return integrity.suspicious_drop(stats.views, post.views, policy.integrity)


async def unwritable(
    session: AsyncSession, post: DuePost, error: str, now: datetime, policy: Policy
) -> None:
    """A result the database refused for this post alone: recorded as the post's error, its
    lease released and its next fetch scheduled like any failure's, so it neither blocks
    its batch nor comes back at once."""
    failure = stats_repo.Failure(
        post,
        WRITE_FAILED,
        WRITE_FAILED,
        f"The result could not be stored: {error}",
        _next_without_stats(post, now, policy, failed=True),
    )
    await stats_repo.record_failures(session, [failure], now)
