import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.deps import Admin, AppSettings, Editor, Http, Session, Viewer
from app.domain.errors import found
from app.errors import PROBLEM_RESPONSES
from app.repositories import campaigns, posts
from app.schemas.common import Cursor, Limit
from app.schemas.posts import (
    EventOut,
    EventPage,
    MarkPaidBody,
    PostCreate,
    PostCreateBody,
    PostListQuery,
    PostOut,
    PostPage,
    PostUpdate,
    RejectBody,
    RestoreBody,
)
from app.services import posts as post_service
from app.settings import Settings

router = APIRouter(tags=["posts"], responses=PROBLEM_RESPONSES)

PostQuery = Annotated[PostListQuery, Query()]


def _settle(settings: Settings) -> timedelta:
    return timedelta(seconds=settings.change_feed_settle_seconds)


@router.post("/v1/campaigns/{campaign_id}/posts", status_code=status.HTTP_201_CREATED)
async def posts_create(
    campaign_id: uuid.UUID,
    body: PostCreateBody,
    session: Session,
    who: Editor,
    http: Http,
    settings: AppSettings,
) -> PostOut:
    """Add a video by URL (short links are followed on the platform's own hosts) or by
    platform and platform_post_id. The creator must already be a member of the campaign."""
    campaign = found(await campaigns.get(session, who.organization_id, campaign_id), "campaign")
    post = await post_service.create(session, http, settings, who, campaign, PostCreate.of(body))
    return PostOut.model_validate(post)


@router.get("/v1/campaigns/{campaign_id}/posts")
async def campaign_posts_list(
    campaign_id: uuid.UUID, session: Session, who: Viewer, query: PostQuery, settings: AppSettings
) -> PostPage:
    rows, next_cursor = await posts.list_page(
        session, who.organization_id, campaign_id, query, _settle(settings)
    )
    if not rows:  # only an empty page needs to tell "no posts" from "no such campaign"
        found(await campaigns.get(session, who.organization_id, campaign_id), "campaign")
    return PostPage(data=[PostOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/v1/posts")
async def posts_list(
    session: Session,
    who: Viewer,
    query: PostQuery,
    settings: AppSettings,
    campaign_id: uuid.UUID | None = None,
) -> PostPage:
    rows, next_cursor = await posts.list_page(
        session, who.organization_id, campaign_id, query, _settle(settings)
    )
    return PostPage(data=[PostOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/v1/posts/{post_id}")
async def posts_get(post_id: uuid.UUID, session: Session, who: Viewer) -> PostOut:
    return PostOut.model_validate(
        found(await posts.get(session, who.organization_id, post_id), "post")
    )


@router.patch("/v1/posts/{post_id}")
async def posts_update(
    post_id: uuid.UUID, body: PostUpdate, session: Session, who: Editor
) -> PostOut:
    """Assign (or clear) the CPM tier. A `pending_cpm` post is finalized at once with its
    locked views; a finalized or paid post's tier is locked (409)."""
    return PostOut.model_validate(
        await post_service.assign_tier(session, who, post_id, body.cpm_tier_id)
    )


@router.post("/v1/posts/{post_id}/reject")
async def posts_reject(
    post_id: uuid.UUID, body: RejectBody, session: Session, who: Admin
) -> PostOut:
    return PostOut.model_validate(await post_service.reject(session, who, post_id, body.reason))


@router.post("/v1/posts/{post_id}/restore")
async def posts_restore(
    post_id: uuid.UUID,
    session: Session,
    who: Admin,
    body: RestoreBody | None = None,
) -> PostOut:
    """Returns a rejected post to the status it was rejected from."""
    reason = body.reason if body else None
    return PostOut.model_validate(await post_service.restore(session, who, post_id, reason))


@router.post("/v1/posts/{post_id}/mark-paid")
async def posts_mark_paid(
    post_id: uuid.UUID,
    session: Session,
    who: Admin,
    body: MarkPaidBody | None = None,
) -> PostOut:
    reference = body.payout_reference if body else None
    return PostOut.model_validate(await post_service.mark_paid(session, who, post_id, reference))


@router.get("/v1/posts/{post_id}/events")
async def posts_events(
    post_id: uuid.UUID, session: Session, who: Viewer, cursor: Cursor = None, limit: Limit = 50
) -> EventPage:
    """Oldest first."""
    post = found(await posts.get(session, who.organization_id, post_id), "post")
    rows, next_cursor = await posts.events(session, post.id, cursor, limit)
    return EventPage(data=[EventOut.model_validate(e) for e in rows], next_cursor=next_cursor)
