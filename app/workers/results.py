"""Writing fetch results: a whole batch of posts in a handful of statements (arrays through
`unnest`), whatever its size. Successes update stats and write one snapshot each; errors are
recorded without touching stats; skips change nothing but the schedule. Every write lands
only while the post still carries the claim's lease. Tracking posts whose deadline has come
are decided in the same transaction, on the stats just written."""

import uuid
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import integrity, lifecycle, schedule
from app.domain.enums import PostStatus
from app.domain.policy import Policy
from app.platforms.contract import FetchError, FetchResult, Skipped, VideoStats, outcome_code
from app.repositories import holds, provenance
from app.repositories.claims import DuePost
from app.services import decisions, flags
from app.workers import authorship, metrics, run_progress

# The per-fetch columns both statements below read: the stats and the answer's provenance.
_FETCHED = """
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:views AS bigint[]), CAST(:likes AS bigint[]),
        CAST(:comments AS bigint[]), CAST(:shares AS bigint[]),
        CAST(:published AS timestamptz[]), CAST(:next AS timestamptz[]),
        CAST(:sources AS text[]), CAST(:leases AS timestamptz[]), CAST(:gained AS bigint[]),
        CAST(:firsts AS boolean[]), CAST(:fields AS text[]), CAST(:requested AS timestamptz[]),
        CAST(:answered AS timestamptz[]), CAST(:hashes AS text[])
    ) AS u(id, views, likes, comments, shares, published_at, next_refresh_at, source, lease,
           gained, first, views_field, requested_at, answered_at, raw_sha256)
    WHERE p.id = u.id AND p.lease_expires_at = u.lease
"""
_SNAPSHOT = """
    INSERT INTO stats_snapshots (post_id, campaign_id, captured_at, views, likes, comments,
                                 shares, source, views_field, requested_at, answered_at,
                                 raw_sha256, applied)
    SELECT id, campaign_id, :now, views, likes, comments, shares, source, views_field,
           requested_at, answered_at, raw_sha256, {applied} FROM updated
    RETURNING post_id, id
"""

# One statement updates the posts, writes their snapshots and adds the views gained to their
# campaigns' day, all from the rows the UPDATE actually changed: a post deleted meanwhile
# (its campaign removed) leaves no orphan snapshot. Campaign days are taken in campaign order,
# so two writers adding to the same days cannot deadlock.
_SUCCESS = text(
    f"""
    WITH updated AS (
        UPDATE posts p SET
            views = u.views, likes = u.likes, comments = u.comments, shares = u.shares,
            published_at = coalesce(u.published_at, p.published_at),
            last_refreshed_at = :now, last_attempt_at = :now,
            last_fetch_outcome = 'refreshed', last_fetch_at = :now,
            last_error_code = NULL, last_error = NULL, last_error_at = NULL,
            consecutive_failures = 0, unconfirmed_views = NULL,
            next_refresh_at = u.next_refresh_at,
            lease_expires_at = NULL, refresh_run_id = NULL, updated_at = :now
        {_FETCHED}
        RETURNING p.id, p.campaign_id, p.views, p.likes, p.comments, p.shares, u.source,
            u.gained, u.views_field, u.requested_at, u.answered_at, u.raw_sha256,
            -- Of which a post's first count: where it stood when it was added, which the
            -- analytics report as a baseline, not as growth on that day.
            CASE WHEN u.first THEN u.gained ELSE 0 END AS baseline
    ), days AS (
        INSERT INTO campaign_daily_views (campaign_id, day, views_gained, baseline_views)
        SELECT campaign_id, CAST(:day AS date), sum(gained), sum(baseline) FROM updated
        GROUP BY campaign_id ORDER BY campaign_id
        ON CONFLICT (campaign_id, day)
        DO UPDATE SET views_gained = campaign_daily_views.views_gained + EXCLUDED.views_gained,
            baseline_views = campaign_daily_views.baseline_views + EXCLUDED.baseline_views
    )
    {_SNAPSHOT.format(applied="true")}
    """
)

# A suspicious drop: the answer is stored as an unapplied snapshot, and the post, its count
# untouched, is asked again soon (its next answer confirms the drop or replaces it).
_UNCONFIRMED = text(
    f"""
    WITH updated AS (
        UPDATE posts p SET
            unconfirmed_views = u.views, last_attempt_at = :now,
            last_fetch_outcome = 'unconfirmed_drop', last_fetch_at = :now,
            next_refresh_at = u.next_refresh_at,
            lease_expires_at = NULL, refresh_run_id = NULL, updated_at = :now
        {_FETCHED}
        RETURNING p.id, p.campaign_id, u.views, u.likes, u.comments, u.shares, u.source,
            u.views_field, u.requested_at, u.answered_at, u.raw_sha256
    )
    {_SNAPSHOT.format(applied="false")}
    """
)

_FAILURE = text(
    """
    UPDATE posts p SET
        last_error_code = u.code, last_error = u.message, last_error_at = :now,
        last_attempt_at = :now, last_fetch_outcome = u.outcome, last_fetch_at = :now,
        consecutive_failures = p.consecutive_failures + 1,
        next_refresh_at = u.next_refresh_at,
        lease_expires_at = NULL, refresh_run_id = NULL, updated_at = :now
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:codes AS text[]), CAST(:messages AS text[]),
        CAST(:next AS timestamptz[]), CAST(:leases AS timestamptz[]), CAST(:outcomes AS text[])
    ) AS u(id, code, message, next_refresh_at, lease, outcome)
    WHERE p.id = u.id AND p.lease_expires_at = u.lease
    RETURNING p.id
    """
)

_SKIP = text(
    """
    UPDATE posts p SET next_refresh_at = u.next_refresh_at, last_attempt_at = :now,
        last_fetch_outcome = u.outcome, last_fetch_at = :now,
        lease_expires_at = NULL, refresh_run_id = NULL
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:next AS timestamptz[]), CAST(:leases AS timestamptz[]),
        CAST(:outcomes AS text[])
    ) AS u(id, next_refresh_at, lease, outcome)
    WHERE p.id = u.id AND p.lease_expires_at = u.lease
    RETURNING p.id
    """
)


# The outcome of a fetch whose result the database refused (see unwritable()).
WRITE_FAILED = "write_failed"


def _deadline(post: DuePost, published_at: datetime | None, policy: Policy) -> datetime:
    aged_from = published_at or post.published_at or post.created_at
    rules = policy.rules(post.min_views, post.finalize_after_days)
    return lifecycle.deadline(aged_from, rules, post.decide_after)


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


async def write_results(
    session: AsyncSession,
    items: list[tuple[DuePost, FetchResult]],
    now: datetime,
    policy: Policy,
) -> Counter[str]:
    """Write one batch of results. Returns counts by outcome."""
    ok = [(p, r) for p, r in items if isinstance(r, VideoStats)]
    failed = [(p, r) for p, r in items if isinstance(r, FetchError)]
    skipped = [(p, r) for p, r in items if isinstance(r, Skipped)]
    cadence = policy.cadence
    # A count far below the last known one is applied only when a second answer says so too.
    drops: list[tuple[DuePost, VideoStats]] = []
    applied: list[tuple[DuePost, VideoStats]] = []
    for post, stats in ok:
        (drops if _unconfirmed(post, stats, policy) else applied).append((post, stats))
    ok = applied

    # views, snapshot, the publish time the answer gave
    due_for_decision: list[tuple[DuePost, int, int, datetime | None]] = []
    written: set[uuid.UUID] = set()  # rows whose lease still held
    raised: Counter[uuid.UUID] = Counter()  # holds raised now, per post
    if ok:
        next_at = []
        for post, stats in ok:
            aged_from = stats.published_at or post.published_at or post.created_at
            # Scheduled as it stands; a decision below adjusts it (rejected: never again).
            next_at.append(
                schedule.next_refresh(
                    post.status,
                    aged_from,
                    now,
                    cadence,
                    deadline=_deadline(post, stats.published_at, policy),
                )
            )
        snapshots = await _write(session, _SUCCESS, ok, next_at, now)
        written.update(snapshots)
        landed_ok = [(p, s) for p, s in ok if p.id in snapshots]
        for post, stats in landed_ok:
            deadline = _deadline(post, stats.published_at, policy)
            if post.status is PostStatus.TRACKING and deadline <= now:
                due_for_decision.append((post, stats.views, snapshots[post.id], stats.published_at))
        new_holds = await authorship.verify(session, landed_ok, now)
        new_holds += authorship.window_holds(landed_ok)
        new_holds += await flags.check(session, landed_ok, snapshots, now, policy.integrity)
        raised.update(h.post_id for h in await holds.raise_many(session, new_holds, now))
    if drops:
        recheck = now + policy.integrity.recheck_after
        written.update(await _write(session, _UNCONFIRMED, drops, [recheck] * len(drops), now))
    if failed:
        done = await session.execute(
            _FAILURE,
            {
                "now": now,
                "leases": [p.lease for p, _ in failed],
                "ids": [p.id for p, _ in failed],
                "codes": [e.kind.value for _, e in failed],
                "outcomes": [outcome_code(e) for _, e in failed],
                "messages": [e.message.replace("\x00", "")[:1000] for _, e in failed],
                "next": [_next_without_stats(p, now, policy, failed=True) for p, _ in failed],
            },
        )
        written.update(done.scalars())
    if skipped:
        done = await session.execute(
            _SKIP,
            {
                "now": now,
                "leases": [p.lease for p, _ in skipped],
                "ids": [p.id for p, _ in skipped],
                "outcomes": [outcome_code(r) for _, r in skipped],
                "next": [_next_without_stats(p, now, policy, failed=False) for p, _ in skipped],
            },
        )
        written.update(done.scalars())
    changed = await decisions.apply(
        session,
        [
            candidate(
                post,
                views,
                policy,
                open_holds=post.open_holds + raised[post.id],
                observed_at=now,
                snapshot_id=snapshot,
                published_at=published_at,
            )
            for post, views, snapshot, published_at in due_for_decision
        ],
        now,
        policy.late_tolerance,
    )
    for status in changed.values():
        metrics.TRANSITIONS.labels(status.value).inc()
    landed = [(p, r.source.value, outcome_of(r)) for p, r in items if p.id in written]
    await run_progress.count(session, landed, now)
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


async def _write(
    session: AsyncSession,
    statement: TextClause,
    fetched: list[tuple[DuePost, VideoStats]],
    next_at: list[datetime | None],
    now: datetime,
) -> dict[uuid.UUID, int]:
    """Run `_SUCCESS` or `_UNCONFIRMED` for these fetches, and keep their raw answers.
    Returns the snapshot written for each post whose lease still held."""
    done = await session.execute(
        statement,
        {
            "now": now,
            "leases": [p.lease for p, _ in fetched],
            "ids": [p.id for p, _ in fetched],
            "views": [s.views for _, s in fetched],
            "likes": [s.likes for _, s in fetched],
            "comments": [s.comments for _, s in fetched],
            "shares": [s.shares for _, s in fetched],
            "published": [s.published_at for _, s in fetched],
            "next": next_at,
            "sources": [s.source.value for _, s in fetched],
            # The claim read the post's views, and only a lease holder changes them.
            "gained": [s.views - p.views for p, s in fetched],
            "firsts": [p.last_refreshed_at is None for p, _ in fetched],
            "fields": [s.views_field for _, s in fetched],
            "requested": [s.requested_at for _, s in fetched],
            "answered": [s.answered_at for _, s in fetched],
            "hashes": [s.raw_sha256 for _, s in fetched],
            "day": now.astimezone(UTC).date(),
        },
    )
    snapshots: dict[uuid.UUID, int] = {row.post_id: row.id for row in done}
    await provenance.store(
        session,
        [(snapshots[p.id], now, s.raw) for p, s in fetched if p.id in snapshots and s.raw],
    )
    return snapshots


async def unwritable(
    session: AsyncSession, post: DuePost, error: str, now: datetime, policy: Policy
) -> None:
    """A result the database refused for this post alone: recorded as the post's error, its
    lease released and its next fetch scheduled like any failure's, so it neither blocks
    its batch nor comes back at once."""
    await session.execute(
        _FAILURE,
        {
            "now": now,
            "leases": [post.lease],
            "ids": [post.id],
            "codes": [WRITE_FAILED],
            "outcomes": [WRITE_FAILED],
            "messages": [f"The result could not be stored: {error}"],
            "next": [_next_without_stats(post, now, policy, failed=True)],
        },
    )
