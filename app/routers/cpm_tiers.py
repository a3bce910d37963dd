"""A campaign's CPM tiers: what it pays per 1,000 views, with an optional cap per video."""

import uuid

from fastapi import APIRouter, Response, status

from app.deps import Editor, Session, Viewer
from app.domain.errors import found
from app.errors import PROBLEM_RESPONSES
from app.repositories import campaigns, tiers
from app.schemas.campaigns import TierCreate, TierOut, TierPage, TierUpdate
from app.schemas.common import Cursor, Limit
from app.services import campaigns as campaign_service

router = APIRouter(
    prefix="/v1/campaigns/{campaign_id}/cpm-tiers", tags=["cpm-tiers"], responses=PROBLEM_RESPONSES
)


@router.post("", status_code=status.HTTP_201_CREATED)
async def cpm_tiers_create(
    campaign_id: uuid.UUID, body: TierCreate, session: Session, who: Editor
) -> TierOut:
    tier = await campaign_service.create_tier(
        session, who.organization_id, campaign_id, body.model_dump()
    )
    return TierOut.model_validate(tier)


@router.get("")
async def cpm_tiers_list(
    campaign_id: uuid.UUID, session: Session, who: Viewer, cursor: Cursor = None, limit: Limit = 50
) -> TierPage:
    """Oldest first."""
    campaign = found(await campaigns.get(session, who.organization_id, campaign_id), "campaign")
    rows, next_cursor = await tiers.list_page(session, campaign.id, cursor, limit)
    return TierPage(data=[TierOut.model_validate(t) for t in rows], next_cursor=next_cursor)


@router.patch("/{tier_id}")
async def cpm_tiers_update(
    campaign_id: uuid.UUID, tier_id: uuid.UUID, body: TierUpdate, session: Session, who: Editor
) -> TierOut:
    """Changes apply to posts finalized from now on; locked earnings never change."""
    tier = await campaign_service.tier_of(session, who.organization_id, campaign_id, tier_id)
    changes = body.model_dump(exclude_unset=True)
    return TierOut.model_validate(await tiers.update(session, tier, changes))


@router.delete("/{tier_id}", status_code=status.HTTP_204_NO_CONTENT)
async def cpm_tiers_delete(
    campaign_id: uuid.UUID, tier_id: uuid.UUID, session: Session, who: Editor
) -> Response:
    """Refused (409) while any post uses the tier; members' defaults are cleared."""
    tier = await campaign_service.tier_of(session, who.organization_id, campaign_id, tier_id)
    await campaign_service.delete_tier(session, tier)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
