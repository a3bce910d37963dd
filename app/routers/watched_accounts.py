"""Watched accounts: a member creator's account, watched so that its new videos join the
campaign by themselves (issue 29)."""

import uuid

from fastapi import APIRouter, Response, status

from app.deps import Editor, Session, Viewer
from app.domain.errors import found
from app.errors import PROBLEM_RESPONSES
from app.repositories import campaigns
from app.repositories import watched_accounts as repo
from app.schemas.common import Cursor, Limit
from app.schemas.watched_accounts import WatchCreate, WatchOut, WatchPage, WatchUpdate
from app.services import watched_accounts as watches

router = APIRouter(
    prefix="/v1/campaigns/{campaign_id}/watched-accounts",
    tags=["watched-accounts"],
    responses=PROBLEM_RESPONSES,
)


@router.post("", status_code=status.HTTP_201_CREATED)
async def watched_accounts_create(
    campaign_id: uuid.UUID, body: WatchCreate, session: Session, who: Editor
) -> WatchOut:
    """Watch a member creator's account: one watch per creator and campaign (409
    watch_exists)."""
    watch = await watches.create(session, who.organization_id, campaign_id, body)
    return watches.present(watch)


@router.get("")
async def watched_accounts_list(
    campaign_id: uuid.UUID,
    session: Session,
    who: Viewer,
    creator_id: uuid.UUID | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> WatchPage:
    """Oldest first; `creator_id` narrows to one creator's watch."""
    campaign = found(await campaigns.get(session, who.organization_id, campaign_id), "campaign")
    rows, next_cursor = await repo.list_page(
        session, who.organization_id, campaign.id, creator_id, cursor, limit
    )
    return WatchPage(data=[watches.present(w) for w in rows], next_cursor=next_cursor)


@router.get("/{watch_id}")
async def watched_accounts_get(
    campaign_id: uuid.UUID, watch_id: uuid.UUID, session: Session, who: Viewer
) -> WatchOut:
    return watches.present(await watches.get(session, who.organization_id, campaign_id, watch_id))


@router.patch("/{watch_id}")
async def watched_accounts_update(
    campaign_id: uuid.UUID, watch_id: uuid.UUID, body: WatchUpdate, session: Session, who: Editor
) -> WatchOut:
    """Enable or pause it, or change its filters (from the next check on)."""
    watch = await watches.update(session, who.organization_id, campaign_id, watch_id, body)
    return watches.present(watch)


@router.delete("/{watch_id}", status_code=status.HTTP_204_NO_CONTENT)
async def watched_accounts_delete(
    campaign_id: uuid.UUID, watch_id: uuid.UUID, session: Session, who: Editor
) -> Response:
    """Stop watching; the posts it added stay and keep being tracked."""
    await watches.delete(session, who.organization_id, campaign_id, watch_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
