import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import CampaignStatus, PostStatus
from app.errors import conflict, invalid
from app.models import Campaign, Post
from app.repositories.common import get_owned, save_changes
from app.repositories.pagination import Sort, fetch_page

LOCKED = (PostStatus.FINALIZED.value, PostStatus.PAID.value)


async def get(session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    return await get_owned(session, Campaign, org, campaign_id, "campaign")


async def list_page(
    session: AsyncSession,
    org: uuid.UUID,
    status: CampaignStatus | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Campaign], str | None]:
    stmt = select(Campaign).where(Campaign.organization_id == org)
    if status is not None:
        stmt = stmt.where(Campaign.status == status.value)
    return await fetch_page(session, stmt, Campaign.id, Sort(None, True), cursor, limit)


async def create(session: AsyncSession, org: uuid.UUID, fields: dict[str, Any]) -> Campaign:
    campaign = Campaign(organization_id=org, **fields)
    session.add(campaign)
    await session.flush()
    await session.refresh(campaign)
    return campaign


async def _has_locked_posts(session: AsyncSession, campaign_id: uuid.UUID) -> bool:
    stmt = select(exists().where(Post.campaign_id == campaign_id, Post.status.in_(LOCKED)))
    return bool(await session.scalar(stmt))


async def update(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, changes: dict[str, Any]
) -> Campaign:
    campaign = await get_owned(session, Campaign, org, campaign_id, "campaign", for_update=True)
    if (
        "currency" in changes
        and changes["currency"] != campaign.currency
        and await _has_locked_posts(session, campaign_id)
    ):
        raise conflict(
            "currency_locked", "Posts of this campaign are finalized; its currency is fixed."
        )
    starts = changes.get("starts_on", campaign.starts_on)
    ends = changes.get("ends_on", campaign.ends_on)
    if starts and ends and ends < starts:
        raise invalid("invalid_dates", "ends_on must not be before starts_on", "/body/ends_on")
    return await save_changes(session, campaign, changes)


async def delete(session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID) -> None:
    campaign = await get_owned(session, Campaign, org, campaign_id, "campaign", for_update=True)
    if await _has_locked_posts(session, campaign_id):
        raise conflict(
            "campaign_has_payouts",
            "The campaign has finalized or paid posts; set its status to ended instead.",
        )
    await session.delete(campaign)
    await session.flush()
