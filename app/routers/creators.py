import uuid

from fastapi import APIRouter, Query, status

from app.deps import Admin, Editor, Session, Viewer
from app.domain.enums import Platform
from app.domain.errors import found
from app.domain.permissions import Action
from app.errors import PROBLEM_RESPONSES
from app.repositories import creators
from app.schemas.common import NO_NUL, NOT_BLANK, Cursor, Limit
from app.schemas.creators import (
    AccessCode,
    CreatorCreate,
    CreatorCreated,
    CreatorOut,
    CreatorPage,
    CreatorRenameOut,
    CreatorRenamePage,
    CreatorUpdate,
)
from app.services import creators as creator_service

router = APIRouter(prefix="/v1/creators", tags=["creators"], responses=PROBLEM_RESPONSES)


@router.post("", status_code=status.HTTP_201_CREATED)
async def creators_create(body: CreatorCreate, session: Session, who: Editor) -> CreatorCreated:
    """The answer carries the creator's access code (for the creator portal and Discord),
    shown this once; an admin can issue a new one later."""
    creator, code = await creator_service.create(session, who.organization_id, body.model_dump())
    return CreatorCreated(**CreatorOut.model_validate(creator).model_dump(), access_code=code)


@router.get("")
async def creators_list(
    session: Session,
    who: Viewer,
    platform: Platform | None = None,
    handle: str | None = Query(
        None, max_length=100, pattern=NO_NUL, description="Exact handle, any case."
    ),
    q: str | None = Query(
        None,
        min_length=1,
        max_length=100,
        pattern=NOT_BLANK,
        description="Search: the start of a handle, any case, with or without `@`.",
    ),
    cursor: Cursor = None,
    limit: Limit = 50,
) -> CreatorPage:
    rows, next_cursor = await creators.list_page(
        session,
        who.organization_id,
        platform,
        handle,
        cursor,
        limit,
        only=who.within(Action.CAMPAIGN_READ),
        q=q.strip() if q is not None else None,
    )
    return CreatorPage(data=[CreatorOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{creator_id}")
async def creators_get(creator_id: uuid.UUID, session: Session, who: Viewer) -> CreatorOut:
    return CreatorOut.model_validate(
        found(await creators.get(session, who.organization_id, creator_id), "creator")
    )


@router.patch("/{creator_id}")
async def creators_update(
    creator_id: uuid.UUID, body: CreatorUpdate, session: Session, who: Editor
) -> CreatorOut:
    creator = found(await creators.get(session, who.organization_id, creator_id), "creator")
    changes = body.model_dump(exclude_unset=True)
    return CreatorOut.model_validate(await creators.update(session, creator, changes))


@router.get("/{creator_id}/history")
async def creators_history(
    creator_id: uuid.UUID, session: Session, who: Viewer, cursor: Cursor = None, limit: Limit = 50
) -> CreatorRenamePage:
    """The creator's handle as the platform changed it, newest first. A rename is synced
    only from a video whose author has the creator's platform user id, or (YouTube) from
    the daily look at the channel's handle, which names no post."""
    creator = found(await creators.get(session, who.organization_id, creator_id), "creator")
    rows, next_cursor = await creators.renames_page(session, creator.id, cursor, limit)
    return CreatorRenamePage(
        data=[CreatorRenameOut.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.post("/{creator_id}/access-code")
async def creators_access_code_rotate(
    creator_id: uuid.UUID, session: Session, who: Admin
) -> AccessCode:
    """A new access code for the creator, shown this once; the old one stops working."""
    creator, code = await creator_service.new_access_code(session, who.organization_id, creator_id)
    return AccessCode(creator_id=creator.id, access_code=code)
