"""Creators as the API and the dashboard add them: each with its first access code (for the
creator portal and Discord), shown once; an admin issues a new one later."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import found
from app.models import Creator
from app.repositories import creators
from app.services import access_codes


async def create(
    session: AsyncSession, org: uuid.UUID, fields: dict[str, Any]
) -> tuple[Creator, str]:
    """The new creator and its access code (the only time it is seen in the clear)."""
    creator = await creators.create(session, org, fields)
    return creator, await access_codes.issue(session, creator)


async def new_access_code(
    session: AsyncSession, org: uuid.UUID, creator_id: uuid.UUID
) -> tuple[Creator, str]:
    """A new code for the creator; the old one stops working."""
    creator = found(await creators.get(session, org, creator_id), "creator")
    return creator, await access_codes.issue(session, creator)
