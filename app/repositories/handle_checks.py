"""The YouTube handle check's queries (app/workers/handles.py through
services/handle_checks.py): which channels are due a look at their @handle, and when each
was last looked at. A claim sets `handle_checked_at` ahead (domain/handles.py's
`claimed_until`), so a channel is never checked twice at once and comes due again one lease
later should its check never land; a check that did land sets it to its time; one that could
not be made (no units, an error) puts back what was there. None of this changes the creator
as the API shows it, so none of it moves `updated_at` (which the model would otherwise set)."""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Platform
from app.domain.handles import Channel
from app.models import Creator


def _due(before: datetime) -> object:
    return (
        (Creator.platform == Platform.YOUTUBE)
        & Creator.platform_user_id.is_not(None)
        & (Creator.handle_checked_at.is_(None) | (Creator.handle_checked_at <= before))
    )


async def claim(
    session: AsyncSession, before: datetime, until: datetime, limit: int
) -> list[Channel]:
    """Up to `limit` YouTube creators known by channel id and last checked at `before` or
    earlier (never checked first), every organization's, claimed until `until`
    (FOR UPDATE SKIP LOCKED: two workers never claim the same creator)."""
    due = (
        select(Creator.id, Creator.handle_checked_at)
        .where(_due(before))  # type: ignore[arg-type]
        .order_by(Creator.handle_checked_at.asc().nulls_first(), Creator.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .cte("due")
    )
    rows = await session.execute(
        update(Creator)
        .where(Creator.id == due.c.id)
        .values(handle_checked_at=until, updated_at=Creator.updated_at)
        .returning(
            Creator.id,
            Creator.organization_id,
            Creator.platform_user_id,
            Creator.handle,
            due.c.handle_checked_at,
        )
    )
    channels = [
        Channel(row.id, row.organization_id, row.platform_user_id, row.handle, row[4])
        for row in rows
    ]
    return sorted(channels, key=lambda c: (c.checked_at is not None, c.checked_at, c.creator_id))


async def checked(session: AsyncSession, channels: Sequence[Channel], at: datetime) -> None:
    """These channels' handles were read at `at`: the next check is a period after it."""
    if channels:
        await session.execute(
            update(Creator)
            .where(
                Creator.id.in_([c.creator_id for c in channels]),
                Creator.organization_id.in_({c.organization_id for c in channels}),
            )
            .values(handle_checked_at=at, updated_at=Creator.updated_at)
        )


async def release(session: AsyncSession, channels: Sequence[Channel], until: datetime) -> None:
    """These channels' check could not be made: each is due as it was before the claim
    (unless something else wrote since, which then stands)."""
    for previous, ids in _by_previous(channels).items():
        await session.execute(
            update(Creator)
            .where(
                Creator.id.in_(ids),
                Creator.organization_id.in_({c.organization_id for c in channels}),
                Creator.handle_checked_at == until,
            )
            .values(handle_checked_at=previous, updated_at=Creator.updated_at)
        )


def _by_previous(channels: Sequence[Channel]) -> dict[datetime | None, list[uuid.UUID]]:
    grouped: dict[datetime | None, list[uuid.UUID]] = {}
    for channel in channels:
        grouped.setdefault(channel.checked_at, []).append(channel.creator_id)
    return grouped


async def channel_count(session: AsyncSession) -> int:
    """YouTube creators known by channel id, every organization's: what the handle check
    asks about once a period (the capacity figures count its units)."""
    stmt = (
        select(func.count())
        .select_from(Creator)
        .where(Creator.platform == Platform.YOUTUBE, Creator.platform_user_id.is_not(None))
    )
    return int(await session.scalar(stmt) or 0)
