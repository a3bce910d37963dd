"""Campaign roles: a user of the organization given a role on one of its campaigns, or
that role taken away. The API (`PUT`/`DELETE /v1/campaigns/{id}/roles/{user_id}`) and the
dashboard's Settings call these; a campaign or a user outside the organization is not found."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import NotFound, found
from app.domain.permissions import CampaignRole
from app.models import CampaignRoleGrant
from app.repositories import campaigns as campaigns_repo
from app.repositories import permissions as permissions_repo
from app.repositories import users as users_repo


async def _campaign_and_user(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    found(await campaigns_repo.get(session, org, campaign_id), "campaign")
    found(await users_repo.get(session, org, user_id), "user")


async def grant(
    session: AsyncSession,
    org: uuid.UUID,
    campaign_id: uuid.UUID,
    user_id: uuid.UUID,
    role: CampaignRole,
) -> CampaignRoleGrant:
    """Gives the user the role on the campaign, or changes the one they hold."""
    await _campaign_and_user(session, org, campaign_id, user_id)
    return await permissions_repo.grant(session, org, campaign_id, user_id, role)


async def revoke(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    """Takes the user's role on the campaign away (NotFound if they hold none)."""
    await _campaign_and_user(session, org, campaign_id, user_id)
    if not await permissions_repo.revoke(session, campaign_id, user_id):
        raise NotFound("campaign_role")
