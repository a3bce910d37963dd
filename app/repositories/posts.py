import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Platform, PostStatus
from app.models import Post, PostEvent
from app.repositories.common import get_owned
from app.repositories.pagination import Sort, by_int, by_time, fetch_page
from app.schemas.posts import PostListQuery

SORTS = {
    "created_at": lambda desc: Sort(None, desc),
    "published_at": lambda desc: by_time(Post.aged_from, desc),
    "views": lambda desc: by_int(Post.views, desc),
}


async def get(
    session: AsyncSession, org: uuid.UUID, post_id: uuid.UUID, *, for_update: bool = False
) -> Post:
    return await get_owned(session, Post, org, post_id, "post", for_update=for_update)


async def exists_in_campaign(
    session: AsyncSession, campaign_id: uuid.UUID, platform: Platform, platform_post_id: str
) -> bool:
    stmt = select(
        exists().where(
            Post.campaign_id == campaign_id,
            Post.platform == platform.value,
            Post.platform_post_id == platform_post_id,
        )
    )
    return bool(await session.scalar(stmt))


async def list_page(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID | None, query: PostListQuery
) -> tuple[Sequence[Row[Any]], str | None]:
    """A page of posts as plain rows (every column of the table): the API's hottest read."""
    stmt = select(*Post.__table__.c).where(Post.organization_id == org)
    if campaign_id is not None:
        stmt = stmt.where(Post.campaign_id == campaign_id)
    if query.status:
        stmt = stmt.where(Post.status.in_([s.value for s in query.status]))
    if query.platform is not None:
        stmt = stmt.where(Post.platform == query.platform.value)
    if query.creator_id is not None:
        stmt = stmt.where(Post.creator_id == query.creator_id)
    if query.published_from is not None:
        stmt = stmt.where(Post.aged_from >= query.published_from)
    if query.published_to is not None:
        stmt = stmt.where(Post.aged_from < query.published_to)
    sort = SORTS[query.sort.lstrip("-")](query.sort.startswith("-"))
    return await fetch_page(session, stmt, Post.id, sort, query.cursor, query.limit)


async def transition(
    session: AsyncSession,
    post: Post,
    to: PostStatus,
    *,
    code: str,
    reason: str | None,
    actor_key_id: uuid.UUID | None,
    values: dict[str, Any] | None = None,
) -> Post | None:
    """Move the post from the status it was read in to `to`, once. The UPDATE is guarded by
    that status, so a concurrent transition (a sweep, another request) makes this one a no-op
    and returns None; on success the event row is written in the same transaction."""
    from_status = post.status
    stmt = (
        update(Post)
        .where(Post.id == post.id, Post.status == from_status)
        .values(status=to.value, **(values or {}))
        .returning(Post)
        .execution_options(populate_existing=True)
    )
    updated = (await session.scalars(stmt)).first()
    if updated is None:
        return None
    session.add(
        PostEvent(
            organization_id=post.organization_id,
            post_id=post.id,
            from_status=from_status,
            to_status=to.value,
            code=code,
            reason=reason,
            actor_key_id=actor_key_id,
        )
    )
    await session.flush()
    return updated


async def last_rejected_from(session: AsyncSession, post_id: uuid.UUID) -> PostStatus | None:
    stmt = (
        select(PostEvent.from_status)
        .where(PostEvent.post_id == post_id, PostEvent.to_status == PostStatus.REJECTED.value)
        .order_by(PostEvent.id.desc())
        .limit(1)
    )
    value = await session.scalar(stmt)
    return None if value is None else PostStatus(value)


async def events(session: AsyncSession, post_id: uuid.UUID) -> Sequence[PostEvent]:
    stmt = select(PostEvent).where(PostEvent.post_id == post_id).order_by(PostEvent.id)
    return (await session.scalars(stmt)).all()
