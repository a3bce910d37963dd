"""Creators' portal sessions: one row per sign-in, named by the signed cookie. A session
lives while its row does and it has not expired."""

import uuid
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.ids import new_id
from app.models import Creator, PortalSession


async def start(
    session: AsyncSession, creator: Creator, expires_at: datetime, now: datetime
) -> uuid.UUID:
    """A new session of the creator; the creator's expired ones go at the same time (so the
    table holds little more than the sessions in use)."""
    await session.execute(
        delete(PortalSession).where(
            PortalSession.creator_id == creator.id, PortalSession.expires_at <= now
        )
    )
    row = PortalSession(
        id=new_id(),
        organization_id=creator.organization_id,
        creator_id=creator.id,
        expires_at=expires_at,
    )
    session.add(row)
    await session.flush()
    return row.id


async def creator_of(
    session: AsyncSession, session_id: uuid.UUID, creator_id: uuid.UUID, now: datetime
) -> Creator | None:
    """The creator of a live session (not ended, not expired), else None."""
    found: Creator | None = await session.scalar(
        select(Creator)
        .join(PortalSession, PortalSession.creator_id == Creator.id)
        .where(
            PortalSession.id == session_id,
            PortalSession.creator_id == creator_id,
            PortalSession.expires_at > now,
        )
    )
    return found


async def end(session: AsyncSession, session_id: uuid.UUID) -> None:
    await session.execute(delete(PortalSession).where(PortalSession.id == session_id))
