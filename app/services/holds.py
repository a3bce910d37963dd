"""Clearing a hold. When a held post's last hold is cleared, the decision it waited for is
made at once, on the views locked at its deadline."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
from app.domain.decisions import candidate
from app.domain.enums import PostStatus
from app.domain.errors import NotFound, found
from app.domain.policy import Policy
from app.models import Campaign, CpmTier, Post
from app.repositories import holds, posts
from app.services import decisions, transitions
from app.webhooks.events import EventType


async def clear(
    session: AsyncSession,
    principal: Principal,
    post_id: uuid.UUID,
    code: str,
    reason: str,
    policy: Policy,
) -> Post:
    post = found(
        await posts.get(session, principal.organization_id, post_id, for_update=True), "post"
    )
    return await clear_locked(session, principal, post, code, reason, policy, datetime.now(UTC))


async def clear_locked(
    session: AsyncSession,
    principal: Principal,
    post: Post,
    code: str,
    reason: str,
    policy: Policy,
    now: datetime,
    *,
    missing_ok: bool = False,
) -> Post:
    """Clear the open hold with this code of a post read FOR UPDATE (404 if it has none,
    unless `missing_ok`), and decide the post if that was the last hold it was held by."""
    if await holds.clear(session, post, code, principal.key_id, reason, now) is None:
        if missing_ok:
            return post
        raise NotFound("hold")
    await session.refresh(post)
    await transitions.announce(
        session, [(post.organization_id, post.id, EventType.POST_HOLD_CLEARED)], now
    )
    if post.status is PostStatus.HELD and post.open_holds == 0:
        assert post.locked_views is not None  # locked when the post was held
        campaign = await session.get(Campaign, post.campaign_id)
        assert campaign is not None
        tier = None
        if post.cpm_tier_id is not None:
            tier = await session.scalar(select(CpmTier).where(CpmTier.id == post.cpm_tier_id))
        await decisions.decide_all(
            session,
            [
                candidate(
                    policy,
                    post_id=post.id,
                    views=post.locked_views,
                    open_holds=post.open_holds,
                    cpm_tier_id=post.cpm_tier_id,
                    cpm=None if tier is None else tier.cpm,
                    cap=None if tier is None else tier.cap,
                    tier_name=None if tier is None else tier.name,
                    campaign_min_views=campaign.min_views,
                    campaign_finalize_days=campaign.finalize_after_days,
                    aged_from=post.aged_from,
                    decide_after=post.decide_after,
                    added_at=post.created_at,
                    observed_at=post.locked_observed_at,
                    snapshot_id=post.locked_snapshot_id,
                    from_status=PostStatus.HELD,
                    note=f"(Decided when its last hold, {code}, was cleared.)",
                )
            ],
            now,
            policy.late_tolerance,
        )
        await session.refresh(post)
    return post
