"""Campaigns: currency, status, dates and per-campaign rule overrides."""

import uuid

from fastapi import APIRouter, Response, status

from app.deps import AppSettings, Editor, Session, Viewer
from app.domain.enums import CampaignStatus
from app.errors import PROBLEM_RESPONSES, invalid
from app.repositories import campaigns
from app.schemas.campaigns import (
    CampaignCreate,
    CampaignOut,
    CampaignUpdate,
)
from app.schemas.common import Cursor, Limit, Page
from app.settings import Settings

router = APIRouter(prefix="/v1/campaigns", tags=["campaigns"], responses=PROBLEM_RESPONSES)


def _within_window(days: int | None, settings: Settings) -> None:
    # A post is refreshed only while it is younger than the refresh window; a later deadline
    # would be decided on stats frozen at the window's end.
    if days is not None and days > settings.refresh_window_days:
        raise invalid(
            "finalize_after_beyond_window",
            f"finalize_after_days can be at most {settings.refresh_window_days}, the refresh "
            "window; posts are not refreshed after it.",
            "/body/finalize_after_days",
        )


@router.post("", status_code=status.HTTP_201_CREATED)
async def campaigns_create(
    body: CampaignCreate, session: Session, who: Editor, settings: AppSettings
) -> CampaignOut:
    _within_window(body.finalize_after_days, settings)
    campaign = await campaigns.create(session, who.organization_id, body.model_dump())
    return CampaignOut.model_validate(campaign)


@router.get("")
async def campaigns_list(
    session: Session,
    who: Viewer,
    status: CampaignStatus | None = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> Page[CampaignOut]:
    """Newest first."""
    rows, next_cursor = await campaigns.list_page(
        session, who.organization_id, status, cursor, limit
    )
    return Page(data=[CampaignOut.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/{campaign_id}")
async def campaigns_get(campaign_id: uuid.UUID, session: Session, who: Viewer) -> CampaignOut:
    return CampaignOut.model_validate(
        await campaigns.get(session, who.organization_id, campaign_id)
    )


@router.patch("/{campaign_id}")
async def campaigns_update(
    campaign_id: uuid.UUID,
    body: CampaignUpdate,
    session: Session,
    who: Editor,
    settings: AppSettings,
) -> CampaignOut:
    _within_window(body.finalize_after_days, settings)
    changes = body.model_dump(exclude_unset=True)
    campaign = await campaigns.update(session, who.organization_id, campaign_id, changes)
    return CampaignOut.model_validate(campaign)


@router.delete("/{campaign_id}", status_code=status.HTTP_204_NO_CONTENT)
async def campaigns_delete(campaign_id: uuid.UUID, session: Session, who: Editor) -> Response:
    """Deletes the campaign with its tiers, members and unfinalized posts. A campaign with
    finalized or paid posts is kept (409): end it instead."""
    await campaigns.delete(session, who.organization_id, campaign_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
