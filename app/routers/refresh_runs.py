"""On-demand refreshes, and the progress of every run (scheduled sweeps included)."""

import uuid

from fastapi import APIRouter, BackgroundTasks, Request, status

from app.deps import AppSettings, Editor, Session, Viewer
from app.domain.errors import InvalidInput, found
from app.domain.permissions import Action
from app.errors import PROBLEM_RESPONSES
from app.repositories import campaigns, runs
from app.schemas.common import Cursor, Limit
from app.schemas.runs import RunCreate, RunKind, RunOut, RunPage
from app.services import refreshes, run_presenter

router = APIRouter(prefix="/v1/refresh-runs", tags=["refresh-runs"], responses=PROBLEM_RESPONSES)


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def refresh_runs_create(
    request: Request,
    background: BackgroundTasks,
    session: Session,
    who: Editor,
    settings: AppSettings,
    body: RunCreate | None = None,
) -> RunOut:
    """Refresh the organization's trackable posts now, whether due or not: all of them with
    no body, or those the body narrows to. Posts fetched within
    FORCED_REFRESH_MIN_INTERVAL_MINUTES are not fetched again (counted as `skipped_recent`);
    rejected posts and posts past the refresh window never are. At most
    MAX_OPEN_REFRESH_RUNS unfinished runs per organization (409 `too_many_runs`). Answers at
    once; follow the run with `GET /v1/refresh-runs/{id}`. A caller restricted to some
    campaigns names one of them in `campaign_id` (422 `campaign_required` otherwise, unless
    it reaches exactly one, which is then taken)."""
    body = body or RunCreate()
    only = who.within(Action.POSTS_EDIT)
    if only is not None and body.campaign_id is None:
        if len(only) != 1:
            raise InvalidInput(
                "campaign_required",
                "This caller reaches only some campaigns: name one in `campaign_id`.",
                "campaign_id",
            )
        body = body.model_copy(update={"campaign_id": next(iter(only))})
    if only is not None and body.campaign_id not in only:
        raise InvalidInput("campaign_not_found", "No campaign with that id.", "campaign_id")
    if body.campaign_id is not None and not await campaigns.get(
        session, who.organization_id, body.campaign_id
    ):
        # 404 is for the resource the path names; this one is named in the body.
        raise InvalidInput("campaign_not_found", "No campaign with that id.", "campaign_id")
    run, platforms = await refreshes.start(
        session,
        who.organization_id,
        runs.RunScope(body.campaign_id, body.platform, body.post_ids),
        settings,
    )
    # Background tasks run after the response, so after the commit: the worker finds the run.
    background.add_task(refreshes.kick, request.app.state.arq, platforms)
    return (await run_presenter.present(session, [run]))[0]


@router.get("")
async def refresh_runs_list(
    session: Session,
    who: Viewer,
    kind: RunKind | None = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> RunPage:
    """Newest first. Scheduled sweeps record one run per platform per hour. Finished runs
    are deleted after REFRESH_RUN_RETENTION_DAYS. A caller restricted to some campaigns sees
    the runs narrowed to one of its campaigns."""
    rows, next_cursor = await runs.list_page(
        session, who.organization_id, kind, cursor, limit, only=who.within(Action.CAMPAIGN_READ)
    )
    return RunPage(data=await run_presenter.present(session, rows), next_cursor=next_cursor)


@router.get("/{run_id}")
async def refresh_runs_get(run_id: uuid.UUID, session: Session, who: Viewer) -> RunOut:
    run = found(
        await runs.get(session, who.organization_id, run_id, only=who.within(Action.CAMPAIGN_READ)),
        "refresh_run",
    )
    return (await run_presenter.present(session, [run]))[0]
