"""Discord integrations, the links of Discord users to creators, and what the bot's
commands read: a creator's campaigns and recent posts."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import campaigns as campaign_rules
from app.domain.enums import CampaignStatus, PostStatus
from app.models import Campaign, CampaignMember, DiscordIntegration, DiscordLink, Post


async def integration(session: AsyncSession, org: uuid.UUID) -> DiscordIntegration | None:
    return await session.get(DiscordIntegration, org)


async def integration_by_application(
    session: AsyncSession, application_id: str
) -> DiscordIntegration | None:
    stmt = select(DiscordIntegration).where(DiscordIntegration.application_id == application_id)
    return (await session.scalars(stmt)).first()


async def delete_integration(session: AsyncSession, row: DiscordIntegration) -> None:
    await session.delete(row)
    await session.flush()


async def linked_creator(
    session: AsyncSession, org: uuid.UUID, discord_user_id: str
) -> uuid.UUID | None:
    stmt = select(DiscordLink.creator_id).where(
        DiscordLink.organization_id == org, DiscordLink.discord_user_id == discord_user_id
    )
    return await session.scalar(stmt)


async def link(
    session: AsyncSession, org: uuid.UUID, discord_user_id: str, creator_id: uuid.UUID
) -> None:
    """Binds the user to the creator, replacing an earlier link of the same user."""
    stmt = insert(DiscordLink).values(
        organization_id=org, discord_user_id=discord_user_id, creator_id=creator_id
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[DiscordLink.organization_id, DiscordLink.discord_user_id],
            set_={"creator_id": stmt.excluded.creator_id, "linked_at": func.now()},
        )
    )


async def unlink_all(session: AsyncSession, org: uuid.UUID) -> None:
    await session.execute(delete(DiscordLink).where(DiscordLink.organization_id == org))


async def active_campaigns_of(
    session: AsyncSession, org: uuid.UUID, creator_id: uuid.UUID, name_contains: str = ""
) -> Sequence[Campaign]:
    """The active campaigns the creator is a member of, newest first (one past its
    `ends_on` is ended, and no longer offered)."""
    stmt = (
        select(Campaign)
        .join(CampaignMember, CampaignMember.campaign_id == Campaign.id)
        .where(
            Campaign.organization_id == org,
            campaign_rules.status_sql(Campaign.status, Campaign.ends_on, datetime.now(UTC))
            == CampaignStatus.ACTIVE,
            CampaignMember.creator_id == creator_id,
        )
        .order_by(Campaign.created_at.desc(), Campaign.id)
        .limit(25)
    )
    if name_contains:
        stmt = stmt.where(Campaign.name.icontains(name_contains, autoescape=True))
    return (await session.scalars(stmt)).all()


async def campaign_by_id_or_name(
    session: AsyncSession, org: uuid.UUID, value: str
) -> Campaign | None:
    """What the campaign option names: an id (what autocomplete sends) or, typed by hand, a
    name (case-insensitive; the newest of that name)."""
    try:
        by_id = await session.get(Campaign, uuid.UUID(value))
    except ValueError:
        by_id = None
    if by_id is not None and by_id.organization_id == org:
        return by_id
    stmt = (
        select(Campaign)
        .where(Campaign.organization_id == org, func.lower(Campaign.name) == value.strip().lower())
        .order_by(Campaign.created_at.desc())
        .limit(1)
    )
    return (await session.scalars(stmt)).first()


@dataclass(frozen=True)
class RecentPost:
    campaign: str
    currency: str
    url: str
    status: PostStatus
    views: int
    earnings: Decimal | None
    created_at: datetime


async def recent_posts(
    session: AsyncSession, org: uuid.UUID, creator_id: uuid.UUID, limit: int
) -> list[RecentPost]:
    stmt = (
        select(
            Campaign.name,
            Campaign.currency,
            Post.url,
            Post.status,
            Post.views,
            Post.earnings,
            Post.created_at,
        )
        .join(Campaign, Campaign.id == Post.campaign_id)
        .where(Post.organization_id == org, Post.creator_id == creator_id)
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(limit)
    )
    return [RecentPost(*row) for row in await session.execute(stmt)]
