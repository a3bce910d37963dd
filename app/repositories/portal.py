"""The creator portal's queries: one creator's posts and totals, never anyone else's, and
only the columns a creator may see."""

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PostStatus
from app.domain.payouts import EARNED
from app.models import Campaign, Post
from app.repositories.pagination import Sort, fetch_page


async def posts_page(
    session: AsyncSession, creator_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[Sequence[Any], str | None]:
    """Newest first. Only the columns a creator may see (no tier, cpm or cap)."""
    stmt: Any = (
        select(
            Post.id,
            Campaign.name.label("campaign"),
            Campaign.currency,
            Post.platform,
            Post.url,
            Post.published_at,
            Post.status,
            Post.views,
            Post.locked_views,
            Post.earnings,
            Post.rejection_reason,
            Post.paid_at,
        )
        .join(Campaign, Campaign.id == Post.campaign_id)
        .where(Post.creator_id == creator_id)
    )
    return await fetch_page(session, stmt, Post.id, Sort(None, True), cursor, limit)


async def totals(session: AsyncSession, creator_id: uuid.UUID) -> Sequence[Any]:
    """Per currency: posts, earned (finalized and paid), paid, pending (finalized)."""
    earned = Post.status.in_(EARNED)

    def total(condition: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(Post.earnings).filter(condition), 0)

    stmt = (
        select(
            Campaign.currency,
            func.count().label("posts"),
            total(earned).label("earned"),
            total(Post.status == PostStatus.PAID).label("paid"),
            total(Post.status == PostStatus.FINALIZED).label("pending"),
        )
        .join(Campaign, Campaign.id == Post.campaign_id)
        .where(Post.creator_id == creator_id)
        .group_by(Campaign.currency)
        .order_by(Campaign.currency)
    )
    return (await session.execute(stmt)).all()
