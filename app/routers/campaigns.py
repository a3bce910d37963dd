"""Campaigns: currency, status, dates and per-campaign rule overrides."""

import uuid

from fastapi import APIRouter, Response, status

from app.deps import Admin, AppSettings, Editor, Session, Viewer
from app.domain.enums import CampaignStatus
from app.domain.errors import found
from app.errors import PROBLEM_RESPONSES
from app.repositories import campaigns
from app.schemas.campaigns import (
    CampaignCreate,
    CampaignOut,
    CampaignPage,
    CampaignUpdate,
)
from app.schemas.common import Cursor, Limit
from app.services import campaigns as campaign_service

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"], responses=PROBLEM_RESPONSES)


@router.post("", status_code=status.HTTP_201_CREATED)
async def campaigns_create(
    body: CampaignCreate, session: Session, who: Editor, settings: AppSettings
) -> CampaignOut:
    campaign = await campaign_service.create(
        session, who.organization_id, body.model_dump(), settings
    )
    return campaign_service.present(campaign)


@router.get("")
async def campaigns_list(
    session: Session,
    who: Viewer,
    status: CampaignStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> CampaignPage:
    """Newest first. `status` filters on the status in force: a campaign past its `ends_on`
    is `ended`. A caller restricted to some campaigns (an org member, a key with
    `campaign_ids`) sees only those."""
    rows, next_cursor = await campaigns.list_page(
        session, who.organization_id, status, cursor, limit, only=who.actor().reachable()
    )
    return CampaignPage(data=[campaign_service.present(r) for r in rows], next_cursor=next_cursor)


@router.get("/{campaign_id}")
async def campaigns_get(campaign_id: uuid.UUID, session: Session, who: Viewer) -> CampaignOut:
    return campaign_service.present(
        found(await campaigns.get(session, who.organization_id, campaign_id), "campaign")
    )


@router.patch("/{campaign_id}")
async def campaigns_update(
    campaign_id: uuid.UUID,
    body: CampaignUpdate,
    session: Session,
    who: Editor,
    settings: AppSettings,
) -> CampaignOut:
    changes = body.model_dump(exclude_unset=True)
    campaign = await campaign_service.update(
        session, who.organization_id, campaign_id, changes, settings
    )
    return campaign_service.present(campaign)


@router.delete("/{campaign_id}", status_code=status.HTTP_204_NO_CONTENT)
async def campaigns_delete(campaign_id: uuid.UUID, session: Session, who: Admin) -> Response:
    """Admins only. Deletes the campaign with its tiers, members and posts, while every post
    is still tracking; a campaign with a decided post is kept (409
    `campaign_has_decided_posts`): end it instead."""
    await campaign_service.delete(session, who.organization_id, campaign_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
