import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Platform
from app.models import RefreshRun, RefreshRunCount
from app.repositories.common import get_owned
from app.repositories.pagination import Sort, fetch_page
from app.schemas.runs import OutcomeCounts, RunCreate, RunOut

# Mark the posts in scope due now and count them toward the run. Rejected posts and posts
# outside the refresh window are never refreshed, forced or not; a post another run is
# already waiting for stays with that run (one run per post, so each run can finish).
_QUEUE = text(
    """
    WITH marked AS (
        UPDATE posts SET refresh_run_id = :run, next_refresh_at = least(next_refresh_at, :now)
        WHERE organization_id = :org
          AND status <> 'rejected'
          AND refresh_run_id IS NULL
          AND aged_from > :window_start
          AND (CAST(:campaign AS uuid) IS NULL OR campaign_id = :campaign)
          AND (CAST(:platform AS text) IS NULL OR platform = :platform)
          AND (CAST(:post_ids AS uuid[]) IS NULL OR id = ANY(CAST(:post_ids AS uuid[])))
          AND (:force OR next_refresh_at <= :now)
          -- A post a worker holds right now is being refreshed already.
          AND (lease_expires_at IS NULL OR lease_expires_at < :now)
        RETURNING platform
    )
    SELECT platform, count(*) FROM marked GROUP BY platform
    """
)


async def create(
    session: AsyncSession, org: uuid.UUID, body: RunCreate, now: datetime, window_start: datetime
) -> tuple[RefreshRun, list[Platform]]:
    """The run, and the platforms that have posts to refresh in it."""
    scope = body.model_dump(mode="json", exclude={"force"}, exclude_none=True)
    run = RefreshRun(organization_id=org, kind="on_demand", scope=scope, force=body.force)
    session.add(run)
    await session.flush()
    rows = (
        await session.execute(
            _QUEUE,
            {
                "run": run.id,
                "org": org,
                "now": now,
                "window_start": window_start,
                "campaign": body.campaign_id,
                "platform": body.platform.value if body.platform else None,
                "post_ids": body.post_ids,
                "force": body.force,
            },
        )
    ).all()
    run.queued = sum(n for _, n in rows)
    if run.queued == 0:
        run.started_at = run.finished_at = now
    await session.flush()
    await session.refresh(run)
    return run, [Platform(p) for p, _ in rows]


async def present(session: AsyncSession, runs: Sequence[RefreshRun]) -> list[RunOut]:
    counts = (
        await session.scalars(
            select(RefreshRunCount).where(RefreshRunCount.run_id.in_([r.id for r in runs]))
        )
    ).all()
    by_run: dict[uuid.UUID, dict[str, OutcomeCounts]] = {r.id: {} for r in runs}
    for c in counts:
        slot = by_run[c.run_id].setdefault(c.source, OutcomeCounts())
        setattr(slot, c.outcome, c.count)
    out = []
    for run in runs:
        sources = by_run[run.id]
        total = {
            o: sum(getattr(s, o) for s in sources.values())
            for o in ("refreshed", "failed", "skipped")
        }
        status = "finished" if run.finished_at else "running" if run.started_at else "queued"
        out.append(
            RunOut(
                id=run.id,
                kind=run.kind,
                status=status,
                scope=run.scope,
                force=run.force,
                queued=run.queued,
                by_source=sources,
                created_at=run.created_at,
                started_at=run.started_at,
                finished_at=run.finished_at,
                **total,
            )
        )
    return out


async def get(session: AsyncSession, org: uuid.UUID, run_id: uuid.UUID) -> RefreshRun:
    return await get_owned(session, RefreshRun, org, run_id, "refresh_run")


async def list_page(
    session: AsyncSession, org: uuid.UUID, kind: str | None, cursor: str | None, limit: int
) -> tuple[Sequence[RefreshRun], str | None]:
    stmt = select(RefreshRun).where(RefreshRun.organization_id == org)
    if kind is not None:
        stmt = stmt.where(RefreshRun.kind == kind)
    return await fetch_page(session, stmt, RefreshRun.id, Sort(None, True), cursor, limit)
