"""On-demand refreshes, and the progress of every run (scheduled sweeps included)."""

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

from fastapi import APIRouter, BackgroundTasks, Request, status

from app.deps import AppSettings, Editor, Session, Viewer
from app.domain.enums import Platform
from app.domain.errors import found
from app.errors import PROBLEM_RESPONSES
from app.repositories import campaigns, runs
from app.schemas.common import Cursor, Limit, Page
from app.schemas.runs import RunCreate, RunOut
from app.services import run_views

router = APIRouter(prefix="/v1/refresh-runs", tags=["refresh-runs"], responses=PROBLEM_RESPONSES)
log = logging.getLogger(__name__)


async def _kick(request: Request, platforms: list[Platform]) -> None:
    """Start the worker now rather than at its next tick. Best effort: the posts are already
    marked due in PostgreSQL, so the next scheduled sweep picks them up regardless."""
    try:
        for platform in platforms:
            await request.app.state.arq.enqueue_job("refresh_now", platform.value)
    except Exception as exc:
        log.warning("could not enqueue refresh_now: %r", exc)


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def refresh_runs_create(
    body: RunCreate,
    request: Request,
    background: BackgroundTasks,
    session: Session,
    who: Editor,
    settings: AppSettings,
) -> RunOut:
    """Queue a refresh of the posts in scope (all of the organization's by default). Only due
    posts unless `force`. Answers at once; follow the run with `GET /v1/refresh-runs/{id}`."""
    if body.campaign_id is not None:
        found(await campaigns.get(session, who.organization_id, body.campaign_id), "campaign")
    run, platforms = await runs.create(
        session,
        who.organization_id,
        runs.RunScope(body.campaign_id, body.platform, body.post_ids),
        force=body.force,
        now=datetime.now(UTC),
        window=timedelta(days=settings.refresh_window_days),
    )
    if run.finished_at is not None:  # nothing to refresh: finished as it was made
        await run_views.announce_finished(session, [(run.organization_id, run.id)], run.finished_at)
    # Background tasks run after the response, so after the commit: the worker finds the run.
    background.add_task(_kick, request, platforms)
    return (await run_views.present(session, [run]))[0]


@router.get("")
async def refresh_runs_list(
    session: Session,
    who: Viewer,
    kind: Literal["on_demand", "scheduled"] | None = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> Page[RunOut]:
    """Newest first. Scheduled sweeps record one run per platform per hour."""
    rows, next_cursor = await runs.list_page(session, who.organization_id, kind, cursor, limit)
    return Page(data=await run_views.present(session, rows), next_cursor=next_cursor)


@router.get("/{run_id}")
async def refresh_runs_get(run_id: uuid.UUID, session: Session, who: Viewer) -> RunOut:
    run = found(await runs.get(session, who.organization_id, run_id), "refresh_run")
    return (await run_views.present(session, [run]))[0]
