"""Bulk post imports and their lines. A worker claims an import by setting its lease; the
lease value is also its token, so a worker that outlived its lease writes nothing more."""

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import PostImport, PostImportLine


async def create(
    session: AsyncSession,
    org: uuid.UUID,
    campaign_id: uuid.UUID,
    api_key_id: uuid.UUID,
    lines: Sequence[tuple[str, uuid.UUID | None]],
) -> PostImport:
    row = PostImport(
        organization_id=org, campaign_id=campaign_id, api_key_id=api_key_id, total=len(lines)
    )
    session.add(row)
    await session.flush()
    await session.execute(
        insert(PostImportLine),
        [
            {"import_id": row.id, "line": n, "url": url, "creator_id": creator_id}
            for n, (url, creator_id) in enumerate(lines, start=1)
        ],
    )
    await session.refresh(row)
    return row


async def get(
    session: AsyncSession,
    org: uuid.UUID,
    import_id: uuid.UUID,
    *,
    only: frozenset[uuid.UUID] | None = None,
) -> PostImport | None:
    """`only`: None unless the import is into one of these campaigns."""
    row = await session.get(PostImport, import_id)
    if row is None or row.organization_id != org:
        return None
    return row if only is None or row.campaign_id in only else None


async def lines(session: AsyncSession, import_id: uuid.UUID) -> Sequence[PostImportLine]:
    stmt = select(PostImportLine).where(PostImportLine.import_id == import_id)
    return (await session.scalars(stmt.order_by(PostImportLine.line))).all()


async def claim(
    session: AsyncSession, import_id: uuid.UUID, now: datetime, lease: timedelta
) -> datetime | None:
    """Takes an unfinished import nobody holds (or whose holder's lease lapsed); returns the
    lease token, or None."""
    token = now + lease
    stmt = (
        update(PostImport)
        .where(
            PostImport.id == import_id,
            PostImport.finished_at.is_(None),
            (PostImport.lease_until.is_(None)) | (PostImport.lease_until < now),
        )
        .values(lease_until=token)
        .returning(PostImport.lease_until)
    )
    return await session.scalar(stmt)


async def renew(
    session: AsyncSession, import_id: uuid.UUID, token: datetime, new_token: datetime
) -> bool:
    """Extends this worker's lease (its token becomes `new_token`); False if the lease is
    no longer its own."""
    stmt = (
        update(PostImport)
        .where(PostImport.id == import_id, PostImport.lease_until == token)
        .values(lease_until=new_token)
        .returning(PostImport.id)
    )
    return await session.scalar(stmt) is not None


async def held(session: AsyncSession, import_id: uuid.UUID, token: datetime) -> PostImport | None:
    """The import, locked, if this worker's lease still holds it."""
    stmt = (
        select(PostImport)
        .where(PostImport.id == import_id, PostImport.lease_until == token)
        .with_for_update()
    )
    return (await session.scalars(stmt)).first()


async def unhandled(
    session: AsyncSession, import_id: uuid.UUID, limit: int
) -> Sequence[PostImportLine]:
    stmt = (
        select(PostImportLine)
        .where(PostImportLine.import_id == import_id, PostImportLine.outcome.is_(None))
        .order_by(PostImportLine.line)
        .limit(limit)
    )
    return (await session.scalars(stmt)).all()


async def claimable(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    stmt = (
        select(PostImport.id)
        .where(
            PostImport.finished_at.is_(None),
            (PostImport.lease_until.is_(None)) | (PostImport.lease_until < now),
        )
        .order_by(PostImport.created_at)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def counts(session: AsyncSession, import_id: uuid.UUID) -> dict[str, int]:
    stmt = (
        select(PostImportLine.outcome, func.count())
        .where(PostImportLine.import_id == import_id, PostImportLine.outcome.is_not(None))
        .group_by(PostImportLine.outcome)
    )
    return {str(outcome): int(n) for outcome, n in await session.execute(stmt)}
