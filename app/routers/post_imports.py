"""Bulk paste: queue many URLs for one campaign, then follow each line's outcome."""

import uuid

from fastapi import APIRouter, BackgroundTasks, Request, Response, status

from app.deps import Editor, Session, Viewer
from app.domain.errors import found
from app.domain.permissions import Action
from app.errors import PROBLEM_RESPONSES
from app.repositories import post_imports as repo
from app.schemas.post_imports import PostImportCreate, PostImportOut
from app.services import post_imports

router = APIRouter(tags=["posts"], responses=PROBLEM_RESPONSES)


@router.post(
    "/v1/campaigns/{campaign_id}/posts/bulk",
    status_code=status.HTTP_202_ACCEPTED,
    responses={202: {"headers": {"Location": {"schema": {"type": "string"}}}}},
)
async def posts_bulk_create(
    campaign_id: uuid.UUID,
    body: PostImportCreate,
    request: Request,
    response: Response,
    background: BackgroundTasks,
    session: Session,
    who: Editor,
) -> PostImportOut:
    """Add up to 1,000 videos at once, each line as `POST .../posts` would (`creator_id`
    only where the URL does not name the creator). Answers at once with the import; each
    line's outcome (`added`, `already_tracked`, `invalid_url`, `not_member`,
    `author_mismatch`, `campaign_ended`, ...) appears at `GET /v1/post-imports/{id}` as the
    worker handles it. Lines are independent. Send an `Idempotency-Key` to retry safely.
    A campaign past its `ends_on` answers 409 `campaign_ended` and takes no import."""
    row = await post_imports.create(session, who, campaign_id, body.lines)
    response.headers["Location"] = f"/v1/post-imports/{row.id}"
    # After the response, so after the commit: the worker finds the import.
    background.add_task(post_imports.kick, request.app.state.arq, row.id)
    return await post_imports.present(session, row)


@router.get("/v1/post-imports/{import_id}")
async def post_imports_get(import_id: uuid.UUID, session: Session, who: Viewer) -> PostImportOut:
    only = who.within(Action.CAMPAIGN_READ)
    row = found(await repo.get(session, who.organization_id, import_id, only=only), "post_import")
    return await post_imports.present(session, row)
