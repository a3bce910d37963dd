"""Creators in a campaign, each with an optional default tier for the posts they add."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import InvalidInput, NotFound, found
from app.models import CampaignMember, Creator
from app.repositories import campaigns, creators
from app.services.campaigns import tier_for


async def add(
    session: AsyncSession,
    org: uuid.UUID,
    campaign_id: uuid.UUID,
    creator_id: uuid.UUID,
    tier_id: uuid.UUID | None,
) -> tuple[CampaignMember, Creator]:
    campaign = found(await campaigns.get(session, org, campaign_id), "campaign")
    # 404 is for the resource the path names; a missing one named in the body is invalid
    # input (as in posts_create).
    creator = await creators.get(session, org, creator_id)
    if creator is None:
        raise InvalidInput("creator_not_found", "No creator with that id.", "creator_id")
    if tier_id is not None:
        await tier_for(session, org, campaign.id, tier_id)
    # A second add of the same creator hits the primary key (member_exists).
    return await creators.add_member(session, org, campaign.id, creator.id, tier_id), creator


async def _member(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, creator_id: uuid.UUID
) -> CampaignMember:
    campaign = found(await campaigns.get(session, org, campaign_id), "campaign")
    member = await creators.get_member(session, campaign.id, creator_id)
    if member is None:
        raise NotFound("member")
    return member


async def change_tier(
    session: AsyncSession,
    org: uuid.UUID,
    campaign_id: uuid.UUID,
    creator_id: uuid.UUID,
    tier_id: uuid.UUID | None,
) -> tuple[CampaignMember, Creator]:
    """The default tier for posts added from now on; posts already added keep theirs."""
    member = await _member(session, org, campaign_id, creator_id)
    if tier_id is not None:
        await tier_for(session, org, campaign_id, tier_id)
    member.cpm_tier_id = tier_id
    await session.flush()
    return member, found(await creators.get(session, org, creator_id), "creator")


async def remove(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, creator_id: uuid.UUID
) -> None:
    """The creator can add no more posts; their existing posts stay and keep being tracked."""
    await session.delete(await _member(session, org, campaign_id, creator_id))
    await session.flush()
