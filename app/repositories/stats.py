"""The stats write: a whole batch of fetch results in a handful of statements (arrays
through `unnest`), whatever its size. Successes update stats and write one snapshot each;
errors are recorded without touching stats; skips change nothing but the schedule. Every
write lands only while the post still carries the claim's lease."""

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.refresh import DuePost, Failure, Skip
from app.platforms.contract import VideoStats

# The per-fetch columns both statements below read: the stats and the answer's provenance.
_FETCHED = """
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:views AS bigint[]), CAST(:likes AS bigint[]),
        CAST(:comments AS bigint[]), CAST(:shares AS bigint[]),
        CAST(:published AS timestamptz[]), CAST(:next AS timestamptz[]),
        CAST(:sources AS text[]), CAST(:leases AS timestamptz[]), CAST(:gained AS bigint[]),
        CAST(:firsts AS boolean[]), CAST(:fields AS text[]), CAST(:requested AS timestamptz[]),
        CAST(:answered AS timestamptz[]), CAST(:hashes AS text[]), CAST(:snapshots AS bigint[])
    ) AS u(id, views, likes, comments, shares, published_at, next_refresh_at, source, lease,
           gained, first, views_field, requested_at, answered_at, raw_sha256, snapshot_id)
    WHERE p.id = u.id AND p.lease_expires_at = u.lease
"""
_SNAPSHOT = """
    INSERT INTO stats_snapshots (post_id, campaign_id, captured_at, views, likes, comments,
                                 shares, source, views_field, requested_at, answered_at,
                                 raw_sha256, applied{id_column})
    SELECT id, campaign_id, :now, views, likes, comments, shares, source, views_field,
           requested_at, answered_at, raw_sha256, {applied}{id_value} FROM updated
    RETURNING post_id, id
"""

# The id reserved for the snapshot before the write (repositories/result_reads.py), so the
# decisions made before it could name it; else the next.
_RESERVED_OR_NEXT = (
    ", coalesce(snapshot_id, nextval(pg_get_serial_sequence('stats_snapshots', 'id')))"
)

# One statement updates the posts and writes their snapshots, from the rows the UPDATE
# actually changed: a post deleted meanwhile (its campaign removed) leaves no orphan
# snapshot. It returns, for each, the views its campaign's and creator's days gained
# (`add_daily_views`, the write's last statement).
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
        RETURNING p.id, p.campaign_id, p.creator_id, p.platform, p.views, p.likes,
            p.comments, p.shares, u.source, u.gained, u.views_field, u.requested_at,
            u.answered_at, u.raw_sha256, u.snapshot_id,
            -- Of which a post's first count: where it stood when it was added, which the
            -- analytics report as a baseline, not as growth on that day.
            CASE WHEN u.first THEN u.gained ELSE 0 END AS baseline
    ), written AS (
        {_SNAPSHOT.format(applied="true", id_column=", id", id_value=_RESERVED_OR_NEXT)}
    )
    SELECT w.post_id, w.id, u.campaign_id, u.creator_id, u.platform, u.gained, u.baseline
    FROM written w JOIN updated u ON u.id = w.post_id
    """
)

# The views gained, added to their campaigns' day and to their creators' day in each
# campaign. These rows are every writer's (all of a campaign's posts add to one row a day),
# so they are written last in a write's transaction, held only until its commit, and taken
# in campaign (then creator) order, so two writers adding to the same days cannot deadlock.
_DAYS = text(
    """
    WITH gains AS (
        SELECT * FROM unnest(
            CAST(:campaigns AS uuid[]), CAST(:creators AS uuid[]), CAST(:platforms AS text[]),
            CAST(:gained AS bigint[]), CAST(:baseline AS bigint[])
        ) AS g(campaign_id, creator_id, platform, gained, baseline)
    ), days AS (
        INSERT INTO campaign_daily_views (campaign_id, day, views_gained, baseline_views)
        SELECT campaign_id, CAST(:day AS date), sum(gained), sum(baseline) FROM gains
        GROUP BY campaign_id ORDER BY campaign_id
        ON CONFLICT (campaign_id, day)
        DO UPDATE SET views_gained = campaign_daily_views.views_gained + EXCLUDED.views_gained,
            baseline_views = campaign_daily_views.baseline_views + EXCLUDED.baseline_views
    )
    -- The same per creator (the analytics' creator and platform filters read it).
    INSERT INTO creator_daily_views (campaign_id, creator_id, day, platform, views_gained,
                                     baseline_views)
    SELECT campaign_id, creator_id, CAST(:day AS date), min(platform), sum(gained),
           sum(baseline)
    FROM gains
    GROUP BY campaign_id, creator_id ORDER BY campaign_id, creator_id
    ON CONFLICT (campaign_id, creator_id, day)
    DO UPDATE SET views_gained = creator_daily_views.views_gained + EXCLUDED.views_gained,
        baseline_views = creator_daily_views.baseline_views + EXCLUDED.baseline_views
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
    {_SNAPSHOT.format(applied="false", id_column="", id_value="")}
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
        lease_expires_at = NULL, refresh_run_id = NULL, updated_at = :now
    FROM unnest(
        CAST(:ids AS uuid[]), CAST(:next AS timestamptz[]), CAST(:leases AS timestamptz[]),
        CAST(:outcomes AS text[])
    ) AS u(id, next_refresh_at, lease, outcome)
    WHERE p.id = u.id AND p.lease_expires_at = u.lease
    RETURNING p.id
    """
)


class Gained(NamedTuple):
    """Views a written snapshot added to its campaign's and creator's day."""

    campaign_id: uuid.UUID
    creator_id: uuid.UUID
    platform: str
    gained: int
    baseline: int  # of which the post's first count (see _SUCCESS)


class Stored(NamedTuple):
    snapshots: dict[uuid.UUID, int]  # the snapshot written for each post whose lease held
    gains: list[Gained]  # for `add_daily_views`; none for unconfirmed drops


async def write_stats(
    session: AsyncSession,
    fetched: Sequence[tuple[DuePost, VideoStats]],
    next_at: Sequence[datetime | None],
    now: datetime,
    *,
    applied: bool,
    snapshot_ids: Mapping[uuid.UUID, int] | None = None,
) -> Stored:
    """Write these fetches' stats (`applied`, each snapshot under the id reserved for it in
    `snapshot_ids`) or keep them as unconfirmed drops. Returns the snapshot written for each
    post whose lease still held; their raw answers are the caller's to store
    (`provenance.store`, once it knows which of them its decisions keep), and the views
    they gained are the caller's to add to the days (`add_daily_views`, last)."""
    if not fetched:
        return Stored({}, [])
    done = await session.execute(
        _SUCCESS if applied else _UNCONFIRMED,
        {
            "now": now,
            "leases": [p.lease for p, _ in fetched],
            "ids": [p.id for p, _ in fetched],
            "views": [s.views for _, s in fetched],
            "likes": [s.likes for _, s in fetched],
            "comments": [s.comments for _, s in fetched],
            "shares": [s.shares for _, s in fetched],
            "published": [s.published_at for _, s in fetched],
            "next": list(next_at),
            "sources": [s.source.value for _, s in fetched],
            # The claim read the post's views, and only a lease holder changes them.
            "gained": [s.views - p.views for p, s in fetched],
            "firsts": [p.last_refreshed_at is None for p, _ in fetched],
            "fields": [s.views_field for _, s in fetched],
            "requested": [s.requested_at for _, s in fetched],
            "answered": [s.answered_at for _, s in fetched],
            "hashes": [s.raw_sha256 for _, s in fetched],
            "snapshots": [(snapshot_ids or {}).get(p.id) for p, _ in fetched],
        },
    )
    rows = done.all()
    gains = (
        [Gained(r.campaign_id, r.creator_id, r.platform, r.gained, r.baseline) for r in rows]
        if applied
        else []
    )
    return Stored({row.post_id: row.id for row in rows}, gains)


async def add_daily_views(session: AsyncSession, gains: Sequence[Gained], now: datetime) -> None:
    """Add the views these snapshots gained to their campaigns' and creators' day: the last
    statement of a write (see _DAYS)."""
    if not gains:
        return
    await session.execute(
        _DAYS,
        {
            "campaigns": [g.campaign_id for g in gains],
            "creators": [g.creator_id for g in gains],
            "platforms": [g.platform for g in gains],
            "gained": [g.gained for g in gains],
            "baseline": [g.baseline for g in gains],
            "day": now.astimezone(UTC).date(),
        },
    )


async def record_failures(
    session: AsyncSession, failures: Sequence[Failure], now: datetime
) -> list[uuid.UUID]:
    """Record failed fetches; returns the posts whose lease still held."""
    if not failures:
        return []
    done = await session.execute(
        _FAILURE,
        {
            "now": now,
            "leases": [f.post.lease for f in failures],
            "ids": [f.post.id for f in failures],
            "codes": [f.code for f in failures],
            "outcomes": [f.outcome for f in failures],
            "messages": [f.message for f in failures],
            "next": [f.next_refresh_at for f in failures],
        },
    )
    return list(done.scalars())


async def record_skips(
    session: AsyncSession, skips: Sequence[Skip], now: datetime
) -> list[uuid.UUID]:
    """Reschedule skipped fetches; returns the posts whose lease still held."""
    if not skips:
        return []
    done = await session.execute(
        _SKIP,
        {
            "now": now,
            "leases": [s.post.lease for s in skips],
            "ids": [s.post.id for s in skips],
            "outcomes": [s.outcome for s in skips],
            "next": [s.next_refresh_at for s in skips],
        },
    )
    return list(done.scalars())
