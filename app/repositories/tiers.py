import uuid
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import ARRAY, Integer, Uuid, any_, bindparam, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import CpmTier, Post
from app.repositories import written
from app.repositories.common import save_changes
from app.repositories.pagination import Sort, fetch_page


async def get(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, tier_id: uuid.UUID
) -> CpmTier | None:
    """One of the campaign's own tiers, or None."""
    tier = await session.get(CpmTier, tier_id)
    if tier is None or tier.organization_id != org or tier.campaign_id != campaign_id:
        return None
    return tier


async def list_page(
    session: AsyncSession, campaign_id: uuid.UUID, cursor: str | None, limit: int
) -> tuple[Sequence[CpmTier], str | None]:
    """Oldest first."""
    stmt = select(CpmTier).where(CpmTier.campaign_id == campaign_id)
    return await fetch_page(session, stmt, CpmTier.id, Sort(None, False), cursor, limit)


class Choice(NamedTuple):
    id: uuid.UUID
    campaign_id: uuid.UUID
    name: str
    cpm: Decimal
    cap: Decimal | None


_UUIDS: ARRAY[uuid.UUID] = ARRAY(Uuid())
_CHOICES = written.write_out(
    select(CpmTier.id, CpmTier.campaign_id, CpmTier.name, CpmTier.cpm, CpmTier.cap)
    .where(CpmTier.campaign_id == any_(bindparam("campaigns", None, type_=_UUIDS)))
    .order_by(CpmTier.campaign_id, func.lower(CpmTier.name), CpmTier.id)
    .limit(bindparam("limit", None, type_=Integer()))
)


async def choices(
    session: AsyncSession, campaign_ids: Iterable[uuid.UUID], limit: int = 1000
) -> list[Choice]:
    """These campaigns' tiers (at most `limit`), each campaign's by name: what a page offers
    to assign (the posts table's bulk action, a post's page, the inbox's pending CPMs). Rows,
    not objects, read on the driver (see app.repositories.written)."""
    wanted = sorted(set(campaign_ids))
    if not wanted:
        return []
    rows = await written.fetch(session, _CHOICES, {"campaigns": wanted, "limit": limit})
    return [Choice(*row) for row in rows]


async def create(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, fields: dict[str, Any]
) -> CpmTier:
    tier = CpmTier(organization_id=org, campaign_id=campaign_id, **fields)
    session.add(tier)
    await session.flush()
    await session.refresh(tier)
    return tier


async def update(session: AsyncSession, tier: CpmTier, changes: dict[str, Any]) -> CpmTier:
    # Earnings are computed once at finalization, so editing a tier never changes money
    # already locked; it applies to posts finalized from now on.
    return await save_changes(session, tier, changes)


async def in_use(session: AsyncSession, tier_id: uuid.UUID) -> bool:
    return bool(await session.scalar(select(exists().where(Post.cpm_tier_id == tier_id))))


async def delete(session: AsyncSession, tier: CpmTier) -> None:
    await session.delete(tier)
    await session.flush()
