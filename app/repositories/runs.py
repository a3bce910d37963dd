import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import schedule
from app.domain.enums import Platform
from app.models import Post, RefreshRun, RefreshRunCount
from app.repositories.common import get_owned
from app.repositories.pagination import Sort, fetch_page


@dataclass(frozen=True)
class RunScope:
    """Which of the organization's posts an on-demand run covers (None: no narrowing)."""

    campaign_id: uuid.UUID | None = None
    platform: Platform | None = None
    post_ids: list[uuid.UUID] | None = None

    def stored(self) -> dict[str, Any]:
        """As kept in refresh_runs.scope: JSON, the narrowings only."""
        scope: dict[str, Any] = {}
        if self.campaign_id is not None:
            scope["campaign_id"] = str(self.campaign_id)
        if self.platform is not None:
            scope["platform"] = self.platform.value
        if self.post_ids is not None:
            scope["post_ids"] = [str(i) for i in self.post_ids]
        return scope


async def create(
    session: AsyncSession,
    org: uuid.UUID,
    scope: RunScope,
    *,
    force: bool,
    now: datetime,
    window: timedelta,
) -> tuple[RefreshRun, list[Platform]]:
    """The run, and the platforms that have posts to refresh in it. The posts in scope are
    marked due now and counted toward the run. Rejected posts and posts outside the refresh
    window are never refreshed, forced or not; a post another run is already waiting for
    stays with that run (one run per post, so each run can finish)."""
    run = RefreshRun(organization_id=org, kind="on_demand", scope=scope.stored(), force=force)
    session.add(run)
    await session.flush()
    due = schedule.is_due_sql(Post.status, Post.next_refresh_at, Post.lease_expires_at, now)
    # Forced: due whenever it is scheduled; a post a worker holds is being refreshed already.
    free = schedule.is_free_sql(Post.status, Post.lease_expires_at, now)
    stmt = (
        update(Post)
        .where(
            Post.organization_id == org,
            Post.refresh_run_id.is_(None),
            schedule.in_window_sql(Post.aged_from, now, window),
            free if force else due,
        )
        .values(refresh_run_id=run.id, next_refresh_at=func.least(Post.next_refresh_at, now))
        .returning(Post.platform)
    )
    if scope.campaign_id is not None:
        stmt = stmt.where(Post.campaign_id == scope.campaign_id)
    if scope.platform is not None:
        stmt = stmt.where(Post.platform == scope.platform)
    if scope.post_ids is not None:
        stmt = stmt.where(Post.id.in_(scope.post_ids))
    marked = Counter((await session.scalars(stmt)).all())
    run.queued = sum(marked.values())
    if run.queued == 0:
        run.started_at = run.finished_at = now
    await session.flush()
    await session.refresh(run)
    return run, sorted(marked)


async def scheduled_since(
    session: AsyncSession, orgs: set[uuid.UUID], platform: Platform, since: datetime
) -> dict[uuid.UUID, uuid.UUID]:
    """Each organization's latest scheduled run of the platform started since `since`."""
    rows = await session.execute(
        select(RefreshRun.organization_id, RefreshRun.id)
        .ext(distinct_on(RefreshRun.organization_id))
        .where(
            RefreshRun.organization_id.in_(orgs),
            RefreshRun.kind == "scheduled",
            RefreshRun.scope["platform"].astext == platform.value,
            RefreshRun.started_at >= since,
        )
        .order_by(RefreshRun.organization_id, RefreshRun.id.desc())
    )
    return {org: run_id for org, run_id in rows.all()}


async def start_scheduled(
    session: AsyncSession, org: uuid.UUID, platform: Platform, now: datetime
) -> uuid.UUID:
    run = RefreshRun(
        organization_id=org, kind="scheduled", scope={"platform": platform.value}, started_at=now
    )
    session.add(run)
    await session.flush()
    return run.id


async def counts(session: AsyncSession, run_ids: list[uuid.UUID]) -> Sequence[RefreshRunCount]:
    """The runs' outcome counts, per source and outcome."""
    stmt = select(RefreshRunCount).where(RefreshRunCount.run_id.in_(run_ids))
    return (await session.scalars(stmt)).all()


async def get(session: AsyncSession, org: uuid.UUID, run_id: uuid.UUID) -> RefreshRun | None:
    return await get_owned(session, RefreshRun, org, run_id)


async def list_page(
    session: AsyncSession, org: uuid.UUID, kind: str | None, cursor: str | None, limit: int
) -> tuple[Sequence[RefreshRun], str | None]:
    stmt = select(RefreshRun).where(RefreshRun.organization_id == org)
    if kind is not None:
        stmt = stmt.where(RefreshRun.kind == kind)
    return await fetch_page(session, stmt, RefreshRun.id, Sort(None, True), cursor, limit)
