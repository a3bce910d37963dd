"""Refresh-run bookkeeping for the refresher: scheduled sweeps count toward an hourly run per
organization and platform (the statements are repositories/runs.py's). Every written result
counts toward its post's run in the write itself (services/refresh_results.py)."""

import uuid
from dataclasses import replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Platform
from app.domain.refresh import DuePost
from app.repositories import runs


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
        sweep_runs |= await runs.scheduled_since(session, missing, platform, hour)
    for org in {p.organization_id for p in orphans} - sweep_runs.keys():
        sweep_runs[org] = await runs.start_scheduled(session, org, platform, now)
    await runs.join(
        session, [p.id for p in orphans], [sweep_runs[p.organization_id] for p in orphans]
    )
    return [
        replace(p, refresh_run_id=sweep_runs[p.organization_id]) if p.refresh_run_id is None else p
        for p in due
    ]
