import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Platform
from app.domain.holds import Author
from app.models import CampaignMember, Creator, CreatorRename
from app.repositories.common import get_owned, save_changes
from app.repositories.pagination import Sort, by_time, fetch_page


async def get(session: AsyncSession, org: uuid.UUID, creator_id: uuid.UUID) -> Creator | None:
    return await get_owned(session, Creator, org, creator_id)


async def by_handle(
    session: AsyncSession, org: uuid.UUID, platform: Platform, handle: str
) -> Creator | None:
    stmt = select(Creator).where(
        Creator.organization_id == org,
        Creator.platform == platform,
        func.lower(Creator.handle) == handle.lower(),
    )
    return (await session.scalars(stmt)).first()


async def known_by_handle(
    session: AsyncSession, org: uuid.UUID, platform: Platform, handle: str
) -> Sequence[Creator]:
    """The organization's creators on the platform who have this handle now or had it
    before (their rename history), the one who has it now first."""
    wanted = handle.removeprefix("@").lower()
    renamed = select(CreatorRename.creator_id).where(
        CreatorRename.organization_id == org,
        or_(
            func.lower(CreatorRename.old_handle) == wanted,
            func.lower(CreatorRename.new_handle) == wanted,
        ),
    )
    stmt = (
        select(Creator)
        .where(
            Creator.organization_id == org,
            Creator.platform == platform,
            or_(func.lower(Creator.handle) == wanted, Creator.id.in_(renamed)),
        )
        .order_by((func.lower(Creator.handle) == wanted).desc(), Creator.id)
    )
    return (await session.scalars(stmt)).all()


async def authors(
    session: AsyncSession, creator_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Author]:
    """The creators' handles and platform user ids as stored now: what a fetched video's
    author is checked against when its result is written (never a copy read earlier)."""
    ids = list(set(creator_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(Creator.id, Creator.handle, Creator.platform_user_id).where(Creator.id.in_(ids))
    )
    return {row.id: Author(row.handle, row.platform_user_id) for row in rows}


async def account_holder(
    session: AsyncSession,
    org: uuid.UUID,
    platform: Platform,
    user_id: str,
    *,
    other_than: uuid.UUID,
) -> str | None:
    """The handle of the organization's other creator whose platform user id this is."""
    stmt = select(Creator.handle).where(
        Creator.organization_id == org,
        Creator.platform == platform,
        Creator.platform_user_id == user_id,
        Creator.id != other_than,
    )
    return (await session.scalars(stmt)).first()


async def list_page(
    session: AsyncSession,
    org: uuid.UUID,
    platform: Platform | None,
    handle: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Creator], str | None]:
    stmt = select(Creator).where(Creator.organization_id == org)
    if platform is not None:
        stmt = stmt.where(Creator.platform == platform)
    if handle is not None:
        stmt = stmt.where(func.lower(Creator.handle) == handle.removeprefix("@").lower())
    return await fetch_page(session, stmt, Creator.id, Sort(None, True), cursor, limit)


async def create(session: AsyncSession, org: uuid.UUID, fields: dict[str, Any]) -> Creator:
    """The unique indexes refuse a handle or user id the platform already has here
    (app/errors.py names the constraint's code)."""
    creator = Creator(organization_id=org, **fields)
    session.add(creator)
    await session.flush()
    await session.refresh(creator)
    return creator


async def update(session: AsyncSession, creator: Creator, changes: dict[str, Any]) -> Creator:
    return await save_changes(session, creator, changes)


async def get_member(
    session: AsyncSession, campaign_id: uuid.UUID, creator_id: uuid.UUID
) -> CampaignMember | None:
    return await session.get(CampaignMember, (campaign_id, creator_id))


async def list_members(
    session: AsyncSession, campaign_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[list[tuple[CampaignMember, Creator]], str | None]:
    """Oldest member first. The position columns are selected by name for the cursor."""
    stmt: Any = (
        select(CampaignMember.created_at, CampaignMember.creator_id, CampaignMember, Creator)
        .join(Creator, Creator.id == CampaignMember.creator_id)
        .where(CampaignMember.campaign_id == campaign_id)
    )
    sort = by_time(CampaignMember.created_at, False)
    rows, next_cursor = await fetch_page(
        session, stmt, CampaignMember.creator_id, sort, cursor, limit
    )
    return [(r.CampaignMember, r.Creator) for r in rows], next_cursor


async def add_member(
    session: AsyncSession,
    org: uuid.UUID,
    campaign_id: uuid.UUID,
    creator_id: uuid.UUID,
    cpm_tier_id: uuid.UUID | None,
) -> CampaignMember:
    member = CampaignMember(
        organization_id=org, campaign_id=campaign_id, creator_id=creator_id, cpm_tier_id=cpm_tier_id
    )
    session.add(member)
    await session.flush()
    await session.refresh(member)
    return member


async def renames_page(
    session: AsyncSession, creator_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[Sequence[CreatorRename], str | None]:
    """The creator's renames as the platform reported them, newest first."""
    stmt = select(CreatorRename).where(CreatorRename.creator_id == creator_id)
    return await fetch_page(
        session, stmt, CreatorRename.id, Sort(None, True), cursor, limit, parse_id=int
    )
