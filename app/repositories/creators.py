import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    Row,
    Text,
    bindparam,
    column,
    func,
    insert,
    or_,
    select,
)
from sqlalchemy import update as sa_update
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.domain.authorship import Author
from app.domain.enums import Platform
from app.domain.refresh import Bind, Rename
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


def handle_starts_with(text: str) -> ColumnElement[bool]:
    """A search box's handle: its start, any case, `@` optional (the creators list's `q`
    and the post lists' search)."""
    return Creator.handle.istartswith(text.removeprefix("@"), autoescape=True)


async def list_page(
    session: AsyncSession,
    org: uuid.UUID,
    platform: Platform | None,
    handle: str | None,
    cursor: str | None,
    limit: int,
    *,
    only: frozenset[uuid.UUID] | None = None,
    q: str | None = None,
) -> tuple[Sequence[Creator], str | None]:
    """`handle`: exactly this handle (any case); `q`: handles starting so. `only`: the
    creators who are members of these campaigns (a restricted caller's)."""
    stmt = select(Creator).where(Creator.organization_id == org)
    if only is not None:
        stmt = stmt.where(
            select(CampaignMember.creator_id)
            .where(
                CampaignMember.creator_id == Creator.id,
                CampaignMember.campaign_id.in_(sorted(only)),
            )
            .exists()
        )
    if platform is not None:
        stmt = stmt.where(Creator.platform == platform)
    if handle is not None:
        stmt = stmt.where(func.lower(Creator.handle) == handle.removeprefix("@").lower())
    if q is not None:
        stmt = stmt.where(handle_starts_with(q))
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


# The creator writes of the result writer (services/authorship.py decides who is whose).


_UUIDS = ARRAY(UUID(as_uuid=True))
_TEXTS = ARRAY(Text)


def _other_creator_has(
    target: type[Creator], handle: object = None, user_id: object = None
) -> object:
    other = aliased(Creator)
    same = (
        func.lower(other.handle) == func.lower(handle)
        if handle is not None
        else other.platform_user_id == user_id
    )
    return (
        select(other.id)
        .where(
            other.organization_id == target.organization_id,
            other.platform == target.platform,
            other.id != target.id,
            same,
        )
        .exists()
    )


async def rename_many(
    session: AsyncSession, changes: Sequence[Rename], now: datetime
) -> Sequence[Row[Any]]:
    """The creator's handle follows the platform's, with a history row, unless another
    creator of the organization has that handle (the unique index would refuse the whole
    batch). Returns the renames made: (id, organization_id, old, new, post)."""
    if not changes:
        return []
    u = (
        func.unnest(
            bindparam("r_ids", [c.creator_id for c in changes], type_=_UUIDS),
            bindparam("r_users", [c.user_id for c in changes], type_=_TEXTS),
            bindparam("r_olds", [c.old for c in changes], type_=_TEXTS),
            bindparam("r_news", [c.new for c in changes], type_=_TEXTS),
            bindparam("r_posts", [c.post_id for c in changes], type_=_UUIDS),
        )
        .table_valued(column("id"), column("user_id"), column("old"), column("new"), column("post"))
        .render_derived(name="u", with_types=False)
    )
    renamed = (
        await session.execute(
            sa_update(Creator)
            .where(
                Creator.id == u.c.id,
                Creator.platform_user_id == u.c.user_id,
                Creator.handle == u.c.old,
                ~_other_creator_has(Creator, handle=u.c.new),  # type: ignore[operator]
            )
            .values(handle=u.c.new, updated_at=now)
            .returning(Creator.id, Creator.organization_id, u.c.old, u.c.new, u.c.post)
        )
    ).all()
    if renamed:
        await session.execute(
            insert(CreatorRename),
            [
                {
                    "organization_id": row.organization_id,
                    "creator_id": row.id,
                    "old_handle": row.old,
                    "new_handle": row.new,
                    "post_id": row.post,
                    "renamed_at": now,
                }
                for row in renamed
            ],
        )
    return renamed


async def bind_many(
    session: AsyncSession, changes: Sequence[Bind], now: datetime
) -> set[uuid.UUID]:
    """Remember the user id of creators seen for the first time on their own video (the
    author's handle is theirs). Returns the creators bound."""
    if not changes:
        return set()
    u = (
        func.unnest(
            bindparam("b_ids", [c.creator_id for c in changes], type_=_UUIDS),
            bindparam("b_users", [c.user_id for c in changes], type_=_TEXTS),
            bindparam("b_handles", [c.handle for c in changes], type_=_TEXTS),
        )
        .table_valued(column("id"), column("user_id"), column("handle"))
        .render_derived(name="u", with_types=False)
    )
    bound = await session.scalars(
        sa_update(Creator)
        .where(
            Creator.id == u.c.id,
            Creator.platform_user_id.is_(None),
            func.lower(Creator.handle) == func.lower(u.c.handle),
            ~_other_creator_has(Creator, user_id=u.c.user_id),  # type: ignore[operator]
        )
        .values(platform_user_id=u.c.user_id, updated_at=now)
        .returning(Creator.id)
    )
    return set(bound.all())


async def by_ids(session: AsyncSession, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Creator]:
    return {
        c.id: c for c in await session.scalars(select(Creator).where(Creator.id.in_(list(ids))))
    }


async def handles(
    session: AsyncSession, org: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, str]:
    stmt = select(Creator.id, Creator.handle).where(
        Creator.organization_id == org, Creator.id.in_(set(ids))
    )
    return {row.id: row.handle for row in await session.execute(stmt)}
