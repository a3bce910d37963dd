"""Refresh-run bookkeeping for the refresher: scheduled sweeps count toward an hourly run per
organization and platform, and every written result counts toward its post's run.

Several runs are always updated in id order (here, in the claim and in the API): concurrent
transactions then lock them in the same order and cannot deadlock."""

import uuid
from collections import Counter
from dataclasses import replace
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Platform
from app.repositories import runs
from app.repositories.claims import DuePost
from app.services import run_views

_JOIN_POSTS = text(
    "UPDATE posts p SET refresh_run_id = u.run FROM unnest(CAST(:ids AS uuid[]),"
    " CAST(:runs AS uuid[])) AS u(id, run) WHERE p.id = u.id"
)
_QUEUED = text(
    "UPDATE refresh_runs r SET queued = r.queued + u.n"
    " FROM unnest(CAST(:runs AS uuid[]), CAST(:counts AS int[])) AS u(id, n)"
    " WHERE r.id = u.id"
)
_COUNTS = text(
    """
    INSERT INTO refresh_run_counts (run_id, source, outcome, count)
    SELECT * FROM unnest(
        CAST(:runs AS uuid[]), CAST(:sources AS text[]), CAST(:outcomes AS text[]),
        CAST(:counts AS int[])
    )
    ON CONFLICT (run_id, source, outcome)
    DO UPDATE SET count = refresh_run_counts.count + EXCLUDED.count
    """
)
_PROGRESS = text(
    """
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


async def attach(
    session: AsyncSession,
    due: list[DuePost],
    sweep_runs: dict[uuid.UUID, uuid.UUID],
    platform: Platform,
    now: datetime,
) -> list[DuePost]:
    """Posts refreshed on schedule count toward a 'scheduled' run of their organization, one
    per platform per hour, so scheduled sweeps show their progress like on-demand runs do.
    The claim itself joins posts to the runs in `sweep_runs`; this finds or starts the runs
    of organizations the sweep meets for the first time, and joins their posts."""
    orphans = [p for p in due if p.refresh_run_id is None]
    if not orphans:
        return due
    # The claim joins posts only to open runs: an organization whose sweep run finished
    # meanwhile has its posts back here, for a new run (a finished run never reopens).
    for org in {p.organization_id for p in orphans} & sweep_runs.keys():
        del sweep_runs[org]
    missing = {p.organization_id for p in orphans} - sweep_runs.keys()
    if missing:
        hour = now.replace(minute=0, second=0, microsecond=0)
        sweep_runs.update(await runs.scheduled_since(session, missing, platform, hour))
    for org in {p.organization_id for p in orphans} - sweep_runs.keys():
        sweep_runs[org] = await runs.start_scheduled(session, org, platform, now)
    await session.execute(
        _JOIN_POSTS,
        {"ids": [p.id for p in orphans], "runs": [sweep_runs[p.organization_id] for p in orphans]},
    )
    per_run = Counter(sweep_runs[p.organization_id] for p in orphans)
    ids = sorted(per_run)
    await session.execute(_QUEUED, {"runs": ids, "counts": [per_run[r] for r in ids]})
    return [
        replace(p, refresh_run_id=sweep_runs[p.organization_id]) if p.refresh_run_id is None else p
        for p in due
    ]


async def count(
    session: AsyncSession, outcomes: list[tuple[DuePost, str, str]], now: datetime
) -> None:
    """Count written results, given as (post, source, outcome), toward their posts' runs,
    and finish the runs no post waits for any more."""
    keyed = Counter(
        (p.refresh_run_id, source, outcome)
        for p, source, outcome in outcomes
        if p.refresh_run_id is not None
    )
    if not keyed:
        return
    keys = sorted(keyed)
    await session.execute(
        _COUNTS,
        {
            "runs": [k[0] for k in keys],
            "sources": [k[1] for k in keys],
            "outcomes": [k[2] for k in keys],
            "counts": [keyed[k] for k in keys],
        },
    )
    per_run: Counter[uuid.UUID] = Counter()
    for (run_id, _, _), n in keyed.items():
        per_run[run_id] += n
    ids = sorted(per_run)
    await session.execute(_PROGRESS, {"now": now, "runs": ids, "counts": [per_run[r] for r in ids]})
    finished = [
        (row.organization_id, row.id)
        for row in await session.execute(_FINISH, {"now": now, "runs": ids})
    ]
    await run_views.announce_finished(session, finished, now)
