"""Creators added to a campaign, each with an optional default tier for their posts."""

import uuid

from fastapi import APIRouter, Response, status

from app.deps import Editor, Session, Viewer
from app.errors import PROBLEM_RESPONSES
from app.models import CampaignMember, Creator
from app.repositories import campaigns, creators, tiers
from app.schemas.creators import CreatorOut, MemberCreate, MemberOut, MemberUpdate

router = APIRouter(
    prefix="/v1/campaigns/{campaign_id}/members", tags=["members"], responses=PROBLEM_RESPONSES
)


def _member_out(member: CampaignMember, creator: Creator) -> MemberOut:
    return MemberOut(
        campaign_id=member.campaign_id,
        creator_id=member.creator_id,
        cpm_tier_id=member.cpm_tier_id,
        created_at=member.created_at,
        creator=CreatorOut.model_validate(creator),
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def members_create(
    campaign_id: uuid.UUID, body: MemberCreate, session: Session, who: Editor
) -> MemberOut:
    org = who.organization_id
    campaign = await campaigns.get(session, org, campaign_id)
    creator = await creators.get(session, org, body.creator_id)
    if body.cpm_tier_id is not None:
        await tiers.for_campaign(session, org, campaign.id, body.cpm_tier_id, "/body/cpm_tier_id")
    member = await creators.add_member(session, org, campaign.id, creator.id, body.cpm_tier_id)
    return _member_out(member, creator)


@router.get("")
async def members_list(campaign_id: uuid.UUID, session: Session, who: Viewer) -> list[MemberOut]:
    campaign = await campaigns.get(session, who.organization_id, campaign_id)
    return [_member_out(m, c) for m, c in await creators.list_members(session, campaign.id)]


@router.patch("/{creator_id}")
async def members_update(
    campaign_id: uuid.UUID, creator_id: uuid.UUID, body: MemberUpdate, session: Session, who: Editor
) -> MemberOut:
    """Changes the default tier for posts added from now on."""
    org = who.organization_id
    campaign = await campaigns.get(session, org, campaign_id)
    member = await creators.require_member(session, campaign.id, creator_id)
    if body.cpm_tier_id is not None:
        await tiers.for_campaign(session, org, campaign.id, body.cpm_tier_id, "/body/cpm_tier_id")
    member.cpm_tier_id = body.cpm_tier_id
    await session.flush()
    return _member_out(member, await creators.get(session, org, creator_id))


@router.delete("/{creator_id}", status_code=status.HTTP_204_NO_CONTENT)
async def members_delete(
    campaign_id: uuid.UUID, creator_id: uuid.UUID, session: Session, who: Editor
) -> Response:
    """The creator can add no more posts; their existing posts stay and keep being tracked."""
    campaign = await campaigns.get(session, who.organization_id, campaign_id)
    member = await creators.require_member(session, campaign.id, creator_id)
    await session.delete(member)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
