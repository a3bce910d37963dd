import hashlib
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, text, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import schedule
from app.domain.enums import Platform
from app.domain.errors import Conflict
from app.models import Organization, Post, RefreshRun, RefreshRunCount
from app.repositories.common import delete_oldest, get_owned
from app.repositories.pagination import Sort, fetch_page


@dataclass(frozen=True)
class RunScope:
    """Which of the organization's posts an on-demand run covers (None: no narrowing)."""

    campaign_id: uuid.UUID | None = None
    platform: Platform | None = None
    post_ids: list[uuid.UUID] | None = None

    def stored(self) -> dict[str, Any]:
        """As kept in refresh_runs.scope: JSON, the narrowings only (the post ids go to
        post_ids_count and post_ids_digest)."""
        scope: dict[str, Any] = {}
        if self.campaign_id is not None:
            scope["campaign_id"] = str(self.campaign_id)
        if self.platform is not None:
            scope["platform"] = self.platform.value
        return scope

    def ids_digest(self) -> str | None:
        if self.post_ids is None:
            return None
        ids = ",".join(sorted(str(i) for i in self.post_ids))
        return hashlib.sha256(ids.encode()).hexdigest()


async def open_runs(session: AsyncSession, org: uuid.UUID) -> int:
    """The organization's unfinished on-demand runs. The organization's row is locked first,
    so two requests cannot both take the last free place."""
    await session.execute(select(Organization.id).where(Organization.id == org).with_for_update())
    stmt = select(func.count()).where(
        RefreshRun.organization_id == org,
        RefreshRun.kind == "on_demand",
        RefreshRun.finished_at.is_(None),
    )
    return int(await session.scalar(stmt) or 0)


async def create(
    session: AsyncSession,
    org: uuid.UUID,
    scope: RunScope,
    *,
    now: datetime,
    window: timedelta,
    min_interval: timedelta,
    max_open: int,
) -> tuple[RefreshRun, list[Platform]]:
    """The run, and the platforms that have posts to refresh in it. The posts in scope are
    marked due now and counted toward the run, whether due or not; posts fetched within
    `min_interval` are left out and counted as skipped_recent. Rejected posts and posts
    outside the refresh window are never refreshed; a post a worker holds is being refreshed
    already; a post another run is already waiting for stays with that run (one run per
    post, so each run can finish). Conflict `too_many_runs` past `max_open` unfinished runs."""
    if await open_runs(session, org) >= max_open:
        raise Conflict(
            "too_many_runs",
            f"The organization has {max_open} unfinished refresh runs, the most it may have; "
            "wait for one to finish.",
        )
    run = RefreshRun(
        organization_id=org,
        kind="on_demand",
        scope=scope.stored(),
        post_ids_count=None if scope.post_ids is None else len(set(scope.post_ids)),
        post_ids_digest=scope.ids_digest(),
        force=True,
    )
    session.add(run)
    await session.flush()
    in_scope = [
        Post.organization_id == org,
        schedule.in_window_sql(Post.aged_from, now, window),
        schedule.is_free_sql(Post.status, Post.lease_expires_at, now),
    ]
    if scope.campaign_id is not None:
        in_scope.append(Post.campaign_id == scope.campaign_id)
    if scope.platform is not None:
        in_scope.append(Post.platform == scope.platform)
    if scope.post_ids is not None:
        in_scope.append(Post.id.in_(scope.post_ids))
    recent = schedule.fetched_recently_sql(Post.last_attempt_at, now, min_interval)
    stmt = (
        update(Post)
        .where(*in_scope, Post.refresh_run_id.is_(None), ~recent)
        .values(refresh_run_id=run.id, next_refresh_at=func.least(Post.next_refresh_at, now))
        .returning(Post.platform)
    )
    marked = Counter((await session.scalars(stmt)).all())
    run.queued = sum(marked.values())
    run.skipped_recent = int(
        await session.scalar(select(func.count()).where(*in_scope, recent)) or 0
    )
    if run.queued == 0:
        # Nothing to wait for: started and finished when created (the database's clock,
        # the one created_at has), so created_at <= started_at <= finished_at.
        run.started_at = run.finished_at = func.now()
    await session.flush()
    await session.refresh(run)
    return run, sorted(marked)


PRUNE_BATCH = 1000


async def prune(session: AsyncSession, before: datetime, batch: int = PRUNE_BATCH) -> int:
    """Deletes up to `batch` finished runs (on-demand and scheduled) created before `before`,
    oldest first; their counts go with them (ON DELETE CASCADE) and posts forget them (SET
    NULL). Returns how many were deleted; call again while it returns `batch`."""
    return await delete_oldest(
        session, RefreshRun.id, RefreshRun.created_at, before, batch,
        RefreshRun.finished_at.is_not(None),
    )  # fmt: skip


async def scheduled_since(
    session: AsyncSession, orgs: set[uuid.UUID], platform: Platform, since: datetime
) -> dict[uuid.UUID, uuid.UUID]:
    """Each organization's latest scheduled run of the platform started since `since` and
    not finished: a finished run never reopens (it has announced `refresh_run.finished`), so
    work that arrives after it goes to a new run."""
    rows = await session.execute(
        select(RefreshRun.organization_id, RefreshRun.id)
        .ext(distinct_on(RefreshRun.organization_id))
        .where(
            RefreshRun.organization_id.in_(orgs),
            RefreshRun.kind == "scheduled",
            RefreshRun.scope["platform"].astext == platform.value,
            RefreshRun.started_at >= since,
            RefreshRun.finished_at.is_(None),
        )
        .order_by(RefreshRun.organization_id, RefreshRun.id.desc())
    )
    return {org: run_id for org, run_id in rows.all()}


async def start_scheduled(
    session: AsyncSession, org: uuid.UUID, platform: Platform, now: datetime
) -> uuid.UUID:
    # created_at from the same clock as started_at, so they are in order.
    run = RefreshRun(
        organization_id=org,
        kind="scheduled",
        scope={"platform": platform.value},
        created_at=now,
        started_at=now,
    )
    session.add(run)
    await session.flush()
    return run.id


async def counts(session: AsyncSession, run_ids: list[uuid.UUID]) -> Sequence[RefreshRunCount]:
    """The runs' outcome counts, per source and outcome."""
    stmt = select(RefreshRunCount).where(RefreshRunCount.run_id.in_(run_ids))
    return (await session.scalars(stmt)).all()


def _of_campaigns(only: frozenset[uuid.UUID]) -> ColumnElement[bool]:
    """A run narrowed to one of these campaigns (a restricted caller's)."""
    campaign: ColumnElement[str] = RefreshRun.scope["campaign_id"].astext
    return campaign.in_(sorted(str(c) for c in only))


async def get(
    session: AsyncSession,
    org: uuid.UUID,
    run_id: uuid.UUID,
    *,
    only: frozenset[uuid.UUID] | None = None,
) -> RefreshRun | None:
    if only is None:
        return await get_owned(session, RefreshRun, org, run_id)
    stmt = select(RefreshRun).where(
        RefreshRun.organization_id == org, RefreshRun.id == run_id, _of_campaigns(only)
    )
    return await session.scalar(stmt)


async def list_page(
    session: AsyncSession,
    org: uuid.UUID,
    kind: str | None,
    cursor: str | None,
    limit: int,
    *,
    only: frozenset[uuid.UUID] | None = None,
) -> tuple[Sequence[RefreshRun], str | None]:
    """Newest first. `only`: the runs narrowed to one of these campaigns."""
    stmt = select(RefreshRun).where(RefreshRun.organization_id == org)
    if only is not None:
        stmt = stmt.where(_of_campaigns(only))
    if kind is not None:
        stmt = stmt.where(RefreshRun.kind == kind)
    return await fetch_page(session, stmt, RefreshRun.id, Sort(None, True), cursor, limit)


# Refresh-run bookkeeping of the refresher (workers/run_progress.py). Several runs are always
# updated in id order (here, in the claim and in the API): concurrent transactions then
# lock them in the same order and cannot deadlock.
_JOIN_POSTS = text(
    "UPDATE posts p SET refresh_run_id = u.run FROM unnest(CAST(:ids AS uuid[]),"
    " CAST(:runs AS uuid[])) AS u(id, run) WHERE p.id = u.id"
)
_QUEUED = text(
    "UPDATE refresh_runs r SET queued = r.queued + u.n"
    " FROM unnest(CAST(:runs AS uuid[]), CAST(:counts AS int[])) AS u(id, n)"
    " WHERE r.id = u.id"
)
# The counts by (run, source, outcome) and each run's progress, in one round trip.
_PROGRESS = text(
    """
    WITH counted AS (
        INSERT INTO refresh_run_counts (run_id, source, outcome, count)
        SELECT * FROM unnest(
            CAST(:keyed_runs AS uuid[]), CAST(:sources AS text[]), CAST(:outcomes AS text[]),
            CAST(:keyed_counts AS int[])
        )
        ON CONFLICT (run_id, source, outcome)
        DO UPDATE SET count = refresh_run_counts.count + EXCLUDED.count
    )
    UPDATE refresh_runs r SET
        done = r.done + u.n,
        -- Never before the run was created, whatever the worker's clock says.
        started_at = coalesce(r.started_at, greatest(:now, r.created_at))
    FROM unnest(CAST(:runs AS uuid[]), CAST(:counts AS int[])) AS u(id, n)
    WHERE r.id = u.id
    """
)
# A run finishes once, when no post waits for it any more: only an open run is finished,
# and a concurrent writer finishing the same run waits for this row and then, re-reading
# it finished, leaves it (READ COMMITTED re-checks the WHERE), so each run is announced once.
_FINISH = text(
    """
    UPDATE refresh_runs r SET
        -- Nor finished before it started: created_at <= started_at <= finished_at.
        finished_at = greatest(:now, r.created_at, r.started_at)
    WHERE r.id = ANY(CAST(:runs AS uuid[]))
      AND r.finished_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM posts WHERE refresh_run_id = r.id)
    RETURNING r.organization_id, r.id
    """
)


async def join(
    session: AsyncSession, post_ids: Sequence[uuid.UUID], run_ids: Sequence[uuid.UUID]
) -> None:
    """Join each post to the run beside it, and count the posts joined in their runs."""
    await session.execute(_JOIN_POSTS, {"ids": list(post_ids), "runs": list(run_ids)})
    per_run = Counter(run_ids)
    ids = sorted(per_run)
    await session.execute(_QUEUED, {"runs": ids, "counts": [per_run[r] for r in ids]})


async def count_results(
    session: AsyncSession, keyed: Counter[tuple[uuid.UUID, str, str]], now: datetime
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """Count results, keyed by (run, source, outcome), toward their runs, and finish the
    runs no post waits for any more; returns those as (organization, run)."""
    keys = sorted(keyed)
    per_run: Counter[uuid.UUID] = Counter()
    for (run_id, _, _), n in keyed.items():
        per_run[run_id] += n
    ids = sorted(per_run)
    await session.execute(
        _PROGRESS,
        {
            "now": now,
            "keyed_runs": [k[0] for k in keys],
            "sources": [k[1] for k in keys],
            "outcomes": [k[2] for k in keys],
            "keyed_counts": [keyed[k] for k in keys],
            "runs": ids,
            "counts": [per_run[r] for r in ids],
        },
    )
    return [
        (row.organization_id, row.id)
        for row in await session.execute(_FINISH, {"now": now, "runs": ids})
    ]
