"""What authorization needs from the database: the campaign a resource belongs to, and a
user's campaign roles."""

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.permissions import CampaignRole
from app.models import Campaign, CampaignRoleGrant, Post
from app.repositories.pagination import Sort, fetch_page


async def campaign_of_post(
    session: AsyncSession, organization_id: uuid.UUID, post_id: uuid.UUID
) -> uuid.UUID | None:
    found: uuid.UUID | None = await session.scalar(
        select(Post.campaign_id).where(Post.id == post_id, Post.organization_id == organization_id)
    )
    return found


async def campaign_roles(
    session: AsyncSession, user_id: uuid.UUID
) -> dict[uuid.UUID, CampaignRole]:
    rows = await session.execute(
        select(CampaignRoleGrant.campaign_id, CampaignRoleGrant.role).where(
            CampaignRoleGrant.user_id == user_id
        )
    )
    return {campaign_id: CampaignRole(role) for campaign_id, role in rows.all()}


async def campaigns_exist(
    session: AsyncSession, organization_id: uuid.UUID, campaign_ids: list[uuid.UUID]
) -> bool:
    count = len(
        (
            await session.scalars(
                select(Campaign.id).where(
                    Campaign.organization_id == organization_id, Campaign.id.in_(campaign_ids)
                )
            )
        ).all()
    )
    return count == len(set(campaign_ids))


async def grant(
    session: AsyncSession,
    organization_id: uuid.UUID,
    campaign_id: uuid.UUID,
    user_id: uuid.UUID,
    role: CampaignRole,
) -> CampaignRoleGrant:
    stmt = insert(CampaignRoleGrant).values(
        organization_id=organization_id, campaign_id=campaign_id, user_id=user_id, role=role.value
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[CampaignRoleGrant.campaign_id, CampaignRoleGrant.user_id],
            set_={"role": stmt.excluded.role},
        )
    )
    row = await session.scalar(
        select(CampaignRoleGrant)
        .where(CampaignRoleGrant.campaign_id == campaign_id, CampaignRoleGrant.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    assert row is not None
    return row


async def revoke(session: AsyncSession, campaign_id: uuid.UUID, user_id: uuid.UUID) -> bool:
    result = await session.execute(
        delete(CampaignRoleGrant).where(
            CampaignRoleGrant.campaign_id == campaign_id, CampaignRoleGrant.user_id == user_id
        )
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_page(
    session: AsyncSession, campaign_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[Sequence[CampaignRoleGrant], str | None]:
    stmt = select(CampaignRoleGrant).where(CampaignRoleGrant.campaign_id == campaign_id)
    return await fetch_page(
        session, stmt, CampaignRoleGrant.user_id, Sort(None, False), cursor, limit
    )


async def campaigns_of_posts(
    session: AsyncSession, organization_id: uuid.UUID, post_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, uuid.UUID]:
    """Each post's campaign, for the posts of the organization among `post_ids`."""
    rows = await session.execute(
        select(Post.id, Post.campaign_id).where(
            Post.id.in_(post_ids), Post.organization_id == organization_id
        )
    )
    return {post_id: campaign_id for post_id, campaign_id in rows}


async def grants_of_users(
    session: AsyncSession, organization_id: uuid.UUID, user_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[uuid.UUID, str, CampaignRole]]]:
    """Each of the users' campaign roles, as (campaign id, campaign name, role) by name: a
    team seen at once, where `GET /v1/campaigns/{id}/roles` answers one campaign at a time."""
    rows = await session.execute(
        select(CampaignRoleGrant.user_id, Campaign.id, Campaign.name, CampaignRoleGrant.role)
        .join(Campaign, Campaign.id == CampaignRoleGrant.campaign_id)
        .where(
            CampaignRoleGrant.organization_id == organization_id,
            CampaignRoleGrant.user_id.in_(user_ids),
        )
        .order_by(Campaign.name, Campaign.id)
    )
    grants: dict[uuid.UUID, list[tuple[uuid.UUID, str, CampaignRole]]] = {}
    for user_id, campaign_id, name, role in rows.all():
        grants.setdefault(user_id, []).append((campaign_id, name, CampaignRole(role)))
    return grants
