"""Creating an organization's API keys: the API (app/routers/keys.py) and the dashboard's
settings both create them here, within the organization's limit."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Role
from app.domain.errors import Conflict, NotFound
from app.models import ApiKey
from app.repositories import api_keys, permissions
from app.settings import Settings


async def create(
    session: AsyncSession,
    settings: Settings,
    org: uuid.UUID,
    role: Role,
    name: str,
    campaign_ids: list[uuid.UUID] | None = None,
) -> tuple[ApiKey, str]:
    """The new key's row and the key itself (the caller shows it once). At most
    `MAX_API_KEYS_PER_ORG` unrevoked keys; `campaign_ids` must all be the organization's."""
    limit = settings.max_api_keys_per_org
    if await api_keys.count_usable_locked(session, org) >= limit:
        raise Conflict(
            "api_key_limit_reached",
            f"The organization has {limit} unrevoked API keys, the most it may have; revoke "
            "one before creating another.",
        )
    if campaign_ids is not None and not await permissions.campaigns_exist(
        session, org, campaign_ids
    ):
        raise NotFound("campaign")
    row, key = await api_keys.create(session, org, role, name, campaign_ids)
    await session.refresh(row)
    return row, key
