"""Track videos: paste URLs (one a line, each optionally followed by the creator's id, as the
bulk import takes them), and watch each line's outcome arrive. The same import as
`POST /v1/campaigns/{id}/posts/bulk` (app.services.post_imports, checked by the API's own
schema and authorized as `posts_bulk_create`), handled by the worker; the page asks for the
import's progress every second (as `GET /v1/post-imports/{id}` answers it) until it is
finished."""

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.deps import Session
from app.domain import campaigns as campaign_rules
from app.domain.enums import CampaignStatus
from app.domain.errors import DomainError
from app.domain.permissions import OPERATIONS, Action
from app.models import Campaign
from app.repositories import campaigns
from app.repositories import post_imports as imports_repo
from app.schemas.post_imports import MAX_LINES, PostImportCreate, PostImportOut
from app.services import post_imports
from app.web.layout import Page, Viewer, page
from app.web.post_page import not_found
from app.web.session import go_to
from app.web.templating import render

router = APIRouter()

OPERATION = "posts_bulk_create"
_CAMPAIGNS = 100  # the API's largest page: the newest campaigns a person adds videos to

# A line's outcome in words (the import's codes; any other shows as its code, in words).
OUTCOMES = {
    "added": "Added",
    "already_tracked": "Already tracked",
    "invalid_url": "Not a video link",
    "not_member": "Creator not in the campaign",
    "author_mismatch": "Posted by someone else",
    "campaign_ended": "Campaign ended",
}


async def _campaigns(session: AsyncSession, me: Viewer) -> list[Campaign]:
    """The campaigns the viewer may add videos to that still take them."""
    rows, _ = await campaigns.list_page(
        session,
        me.principal.organization_id,
        None,
        None,
        _CAMPAIGNS,
        only=me.principal.within(OPERATIONS[OPERATION]),
    )
    now = datetime.now(UTC)
    return [
        c
        for c in rows
        if me.can(OPERATION, c.id)
        and campaign_rules.status_at(c.status, c.ends_on, now) is not CampaignStatus.ENDED
    ]


class Unfit(Exception):
    """What to put right in the form; nothing was queued."""


def _lines(text: str) -> list[dict[str, str | None]]:
    """The pasted text as the bulk import's lines: a URL, then optionally a space and the
    creator's id. Anything else on a line stays the line's URL, for the import to judge (as
    the API would: `not a link` is a line whose outcome is `invalid_url`)."""
    lines: list[dict[str, str | None]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        url, _, last = line.rpartition(" ")
        if url and _is_id(last):
            lines.append({"url": url.strip(), "creator_id": last})
        else:
            lines.append({"url": line, "creator_id": None})
    if not lines:
        raise Unfit("Paste at least one URL.")
    if len(lines) > MAX_LINES:
        raise Unfit(f"At most {MAX_LINES:,} URLs at once; this has {len(lines):,}.")
    return lines


def _is_id(word: str) -> bool:
    try:
        uuid.UUID(word)
    except ValueError:
        return False
    return True


def _checked(lines: list[dict[str, str | None]]) -> PostImportCreate:
    """The API's request schema (its bounds), the first complaint in words."""
    try:
        return PostImportCreate.model_validate({"lines": lines})
    except ValidationError as exc:
        error = exc.errors()[0]
        where = error["loc"]
        if len(where) >= 3 and isinstance(where[1], int):
            what = "creator id" if where[2] == "creator_id" else "URL"
            raise Unfit(f"Line {where[1] + 1}: the {what} is not valid ({error['msg']}).") from None
        raise Unfit(str(error["msg"])) from None


async def _form(
    request: Request,
    session: AsyncSession,
    me: Viewer,
    *,
    error: str = "",
    urls: str = "",
    chosen: str = "",
    job: PostImportOut | None = None,
) -> Response:
    context = {
        "campaigns": await _campaigns(session, me),
        "error": error,
        "urls": urls,
        "chosen": chosen,
        "job": job,
        "outcomes": OUTCOMES,
        "max_lines": MAX_LINES,
    }
    return await page(request, session, me, "track.html", context, current="track")


@router.get("/app/track")
async def track_page(request: Request, session: Session, me: Page) -> Response:
    return await _form(request, session, me)


@router.post("/app/track")
async def track(
    request: Request,
    background: BackgroundTasks,
    session: Session,
    me: Page,
    campaign_id: Annotated[str, Form(max_length=64)] = "",
    urls: Annotated[str, Form(max_length=MAX_LINES * 2200)] = "",
) -> Response:
    """Queues the import and sends the browser to its progress; a request that cannot be
    queued shows the form again with why (200: the person can put it right here)."""
    try:
        try:
            campaign = uuid.UUID(campaign_id)
        except ValueError:
            raise Unfit("Choose a campaign.") from None
        # The API's permission for the same operation; a campaign outside the viewer's
        # reach reads the same as one they may not add to (neither is offered).
        if not me.can(OPERATION, campaign):
            raise Unfit("You cannot add videos to that campaign.")
        body = _checked(_lines(urls))
        row = await post_imports.create(session, me.principal, campaign, body.lines)
    except Unfit as exc:
        return await _form(request, session, me, error=str(exc), urls=urls, chosen=campaign_id)
    except DomainError as exc:
        return await _form(request, session, me, error=exc.detail, urls=urls, chosen=campaign_id)
    background.add_task(post_imports.kick, request.app.state.arq, row.id)
    return go_to(request, f"/app/track/{row.id}")


async def _job(session: AsyncSession, me: Viewer, import_id: uuid.UUID) -> PostImportOut | None:
    """The import as `GET /v1/post-imports/{id}` answers it, if the viewer may read it."""
    only = me.principal.within(Action.CAMPAIGN_READ)
    row = await imports_repo.get(session, me.principal.organization_id, import_id, only=only)
    return None if row is None else await post_imports.present(session, row)


@router.get("/app/track/{import_id:uuid}")
async def track_job(request: Request, import_id: uuid.UUID, session: Session, me: Page) -> Response:
    job = await _job(session, me, import_id)
    if job is None:
        return await not_found(request, session, me, "import")
    return await _form(request, session, me, job=job)


@router.get("/app/track/{import_id:uuid}/progress")
async def track_progress(
    request: Request, import_id: uuid.UUID, session: Session, me: Page
) -> Response:
    """The progress fragment the page polls; once finished it carries no trigger, so the
    polling stops."""
    job = await _job(session, me, import_id)
    if job is None:
        return await not_found(request, session, me, "import")
    return render(request, "track_progress.html", {"job": job, "outcomes": OUTCOMES})
