"""Clearing a hold. When a held post's last hold is cleared, the decision it waited for is
made at once, on the views locked at its deadline."""

import uuid
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth import Principal
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
    now = datetime.now(UTC)
    post = found(
        await posts.get(session, principal.organization_id, post_id, for_update=True), "post"
    )
    if await holds.clear(session, post, code, principal.key_id, reason, now) is None:
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
        await decisions.apply(
            session,
            [
                decisions.Candidate(
                    post_id=post.id,
                    views=post.locked_views,
                    cpm_tier_id=post.cpm_tier_id,
                    tier=None if tier is None else decisions.tier(tier.cpm, tier.cap),
                    rules=policy.rules(campaign.min_views, campaign.finalize_after_days),
                    from_status=PostStatus.HELD,
                    note=f"(Decided when its last hold, {code}, was cleared.)",
                )
            ],
            now,
        )
        await session.refresh(post)
    return post
