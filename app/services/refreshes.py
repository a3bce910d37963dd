"""Refreshing posts now, on demand: a refresh run over the posts a scope names, for the API
(`POST /v1/refresh-runs`) and the dashboard alike."""

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Platform
from app.models import RefreshRun
from app.repositories import runs
from app.services import run_presenter
from app.settings import Settings

log = logging.getLogger(__name__)


async def start(
    session: AsyncSession, organization_id: uuid.UUID, scope: runs.RunScope, settings: Settings
) -> tuple[RefreshRun, list[Platform]]:
    """The run, and the platforms the worker should be woken for (after the commit: see
    `kick`). A run with nothing to refresh is finished as it is made, and announced."""
    run, platforms = await runs.create(
        session,
        organization_id,
        scope,
        now=datetime.now(UTC),
        window=timedelta(days=settings.refresh_window_days),
        min_interval=timedelta(minutes=settings.forced_refresh_min_interval_minutes),
        max_open=settings.max_open_refresh_runs,
    )
    if run.finished_at is not None:
        await run_presenter.announce_finished(
            session, [(run.organization_id, run.id)], run.finished_at
        )
    return run, platforms


async def kick(arq: ArqRedis, platforms: Sequence[Platform]) -> None:
    """Start the worker now rather than at its next tick. Best effort: the posts are already
    marked due in PostgreSQL, so the next scheduled sweep picks them up regardless. Call it
    once the run is committed, so the worker finds it."""
    try:
        for platform in platforms:
            await arq.enqueue_job("refresh_now", platform.value)
    except Exception as exc:
        log.warning("could not enqueue refresh_now: %r", exc)
