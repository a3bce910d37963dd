"""Refresh runs as the API shows them (RunOut, with outcome counts per provider), for the
routers' answers and the `refresh_run.finished` webhook alike."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import RefreshRun
from app.repositories import runs
from app.schemas.runs import RunKind, RunOut, RunScope, RunSources, RunStatus
from app.webhooks import outbox
from app.webhooks.events import EventType


async def present(session: AsyncSession, rows: Sequence[RefreshRun]) -> list[RunOut]:
    by_run: dict[uuid.UUID, RunSources] = {r.id: RunSources() for r in rows}
    for c in await runs.counts(session, [r.id for r in rows]):
        slot = getattr(by_run[c.run_id], c.source, None)
        if slot is not None:
            setattr(slot, c.outcome, c.count)
    out = []
    for run in rows:
        sources = by_run[run.id]
        total = {
            o: sum(getattr(getattr(sources, s), o) for s in RunSources.model_fields)
            for o in ("refreshed", "failed", "skipped")
        }
        state = (
            RunStatus.FINISHED
            if run.finished_at
            else RunStatus.RUNNING
            if run.started_at
            else RunStatus.QUEUED
        )
        out.append(
            RunOut(
                id=run.id,
                kind=RunKind(run.kind),
                status=state,
                scope=RunScope(**run.scope, post_ids_count=run.post_ids_count),
                queued=run.queued,
                skipped_recent=run.skipped_recent,
                by_source=sources,
                created_at=run.created_at,
                started_at=run.started_at,
                finished_at=run.finished_at,
                **total,
            )
        )
    return out


async def announce_finished(
    session: AsyncSession, finished: Sequence[tuple[uuid.UUID, uuid.UUID]], now: datetime
) -> None:
    """`refresh_run.finished` for these (organization, run) pairs, where someone listens."""
    listening = await outbox.listening(session, {org for org, _ in finished})
    await outbox.emit_many(session, await finished_events(session, finished, listening), now=now)


async def finished_events(
    session: AsyncSession,
    finished: Sequence[tuple[uuid.UUID, uuid.UUID]],
    listening: set[uuid.UUID],
) -> list[outbox.Event]:
    """The `refresh_run.finished` events of these (organization, run) pairs, for the
    organizations listening (`outbox.listening`)."""
    ids = [run_id for org, run_id in finished if org in listening]
    if not ids:
        return []
    rows = (await session.scalars(select(RefreshRun).where(RefreshRun.id.in_(ids)))).all()
    return [
        outbox.Event(run.organization_id, EventType.REFRESH_RUN_FINISHED, view)
        for run, view in zip(rows, await present(session, rows), strict=True)
    ]
