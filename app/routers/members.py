"""Creators added to a campaign, each with an optional default tier for their posts."""

import uuid

from fastapi import APIRouter, Response, status

from app.deps import Editor, Session, Viewer
from app.domain.errors import found
from app.errors import PROBLEM_RESPONSES
from app.models import CampaignMember, Creator
from app.repositories import campaigns, creators
from app.schemas.common import Cursor, Limit
from app.schemas.creators import CreatorOut, MemberCreate, MemberOut, MemberPage, MemberUpdate
from app.services import members

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
    return _member_out(
        *await members.add(
            session, who.organization_id, campaign_id, body.creator_id, body.cpm_tier_id
        )
    )


@router.get("")
async def members_list(
    campaign_id: uuid.UUID, session: Session, who: Viewer, cursor: Cursor = None, limit: Limit = 50
) -> MemberPage:
    """Oldest member first."""
    campaign = found(await campaigns.get(session, who.organization_id, campaign_id), "campaign")
    rows, next_cursor = await creators.list_members(session, campaign.id, cursor, limit)
    return MemberPage(data=[_member_out(m, c) for m, c in rows], next_cursor=next_cursor)


@router.patch("/{creator_id}")
async def members_update(
    campaign_id: uuid.UUID, creator_id: uuid.UUID, body: MemberUpdate, session: Session, who: Editor
) -> MemberOut:
    """Changes the default tier for posts added from now on."""
    return _member_out(
        *await members.change_tier(
            session, who.organization_id, campaign_id, creator_id, body.cpm_tier_id
        )
    )


@router.delete("/{creator_id}", status_code=status.HTTP_204_NO_CONTENT)
async def members_delete(
    campaign_id: uuid.UUID, creator_id: uuid.UUID, session: Session, who: Editor
) -> Response:
    """The creator can add no more posts; their existing posts stay and keep being tracked."""
    await members.remove(session, who.organization_id, campaign_id, creator_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
