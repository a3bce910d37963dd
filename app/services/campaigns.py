"""Campaign rules that span more than one row: the refresh window bounds a campaign's
deadline, a campaign with locked earnings keeps its currency and cannot be deleted, and a
tier in use stays."""

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import campaigns as campaign_rules
from app.domain.errors import Conflict, InvalidInput, found
from app.models import Campaign, CpmTier
from app.repositories import campaigns, tiers
from app.schemas.campaigns import CampaignOut
from app.settings import Settings


def _within_window(days: int | None, settings: Settings) -> None:
    # A post is refreshed only while it is younger than the refresh window; a later deadline
    # would be decided on stats frozen at the window's end.
    if days is not None and days > settings.refresh_window_days:
        raise InvalidInput(
            "finalize_after_beyond_window",
            f"finalize_after_days can be at most {settings.refresh_window_days}, the refresh "
            "window; posts are not refreshed after it.",
            "finalize_after_days",
        )


def present(campaign: Campaign, now: datetime | None = None) -> CampaignOut:
    """The campaign as the API shows it: its status is the one in force at `now`, so a
    campaign past its `ends_on` reads `ended` (app.domain.campaigns)."""
    out = CampaignOut.model_validate(campaign)
    out.status = campaign_rules.status_at(
        campaign.status, campaign.ends_on, now or datetime.now(UTC)
    )
    return out


async def create(
    session: AsyncSession, org: uuid.UUID, fields: dict[str, Any], settings: Settings
) -> Campaign:
    _within_window(fields.get("finalize_after_days"), settings)
    return await campaigns.create(session, org, fields)


async def update(
    session: AsyncSession,
    org: uuid.UUID,
    campaign_id: uuid.UUID,
    changes: dict[str, Any],
    settings: Settings,
) -> Campaign:
    _within_window(changes.get("finalize_after_days"), settings)
    campaign = found(await campaigns.get(session, org, campaign_id, for_update=True), "campaign")
    if (
        "currency" in changes
        and changes["currency"] != campaign.currency
        and await campaigns.has_locked_posts(session, campaign.id)
    ):
        raise Conflict(
            "currency_locked", "Posts of this campaign are finalized; its currency is fixed."
        )
    starts = changes.get("starts_on", campaign.starts_on)
    ends = changes.get("ends_on", campaign.ends_on)
    if starts and ends and ends < starts:
        raise InvalidInput("invalid_dates", "ends_on must not be before starts_on", "ends_on")
    return await campaigns.update(session, campaign, changes)


async def delete(session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID) -> None:
    """Only a campaign whose posts are all still tracking: a decided post (its locked
    views, its events) is a record the organization keeps; end the campaign instead.

    Locks in one order, the campaign, then its posts in id order, then (by the cascade) its
    tiers: a tier assignment locks a post before its tier, and the sweep's UPDATEs lock
    posts, so none of them can wait on this in a cycle."""
    campaign = found(await campaigns.get(session, org, campaign_id, for_update=True), "campaign")
    decided = await campaigns.lock_posts_and_count_decided(session, campaign.id)
    if decided:
        raise Conflict(
            "campaign_has_decided_posts",
            f"{decided} of the campaign's posts are decided (held, pending CPM, finalized, paid "
            "or rejected); a campaign is deleted only while every post is still tracking. Set "
            "its status to ended instead.",
        )
    await campaigns.delete(session, campaign)


async def create_tier(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, fields: dict[str, Any]
) -> CpmTier:
    campaign = found(await campaigns.get(session, org, campaign_id), "campaign")
    return await tiers.create(session, org, campaign.id, fields)


async def tier_of(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, tier_id: uuid.UUID
) -> CpmTier:
    """A tier named in the path: one of the campaign's own, else 404."""
    return found(await tiers.get(session, org, campaign_id, tier_id), "cpm_tier")


async def tier_for(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, tier_id: uuid.UUID
) -> CpmTier:
    """A tier named in a request body: it must be one of the campaign's own (422)."""
    tier = await tiers.get(session, org, campaign_id, tier_id)
    if tier is None:
        raise InvalidInput(
            "cpm_tier_not_in_campaign", "The campaign has no CPM tier with that id.", "cpm_tier_id"
        )
    return tier


async def delete_tier(session: AsyncSession, tier: CpmTier) -> None:
    if await tiers.in_use(session, tier.id):
        raise Conflict("cpm_tier_in_use", "Posts use this tier; assign them another one first.")
    await tiers.delete(session, tier)
