import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import ARRAY, Integer, Uuid, and_, any_, bindparam, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import campaigns as campaign_rules
from app.domain.enums import CampaignStatus, PostStatus
from app.models import Campaign, CpmTier, Creator, Post
from app.repositories import tiers as tier_repo
from app.repositories import written
from app.repositories.common import get_owned, save_changes
from app.repositories.pagination import Sort, fetch_page

LOCKED = (PostStatus.FINALIZED, PostStatus.PAID)


async def get(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, *, for_update: bool = False
) -> Campaign | None:
    return await get_owned(session, Campaign, org, campaign_id, for_update=for_update)


async def list_page(
    session: AsyncSession,
    org: uuid.UUID,
    status: CampaignStatus | None,
    cursor: str | None,
    limit: int,
    only: frozenset[uuid.UUID] | None = None,
) -> tuple[Sequence[Campaign], str | None]:
    """`only`: these campaigns (a restricted caller's), else all of the organization's."""
    stmt = select(Campaign).where(Campaign.organization_id == org)
    if only is not None:
        stmt = stmt.where(Campaign.id.in_(sorted(only)))
    if status is not None:
        current = campaign_rules.status_sql(Campaign.status, Campaign.ends_on, datetime.now(UTC))
        stmt = stmt.where(current == status)
    return await fetch_page(session, stmt, Campaign.id, Sort(None, True), cursor, limit)


class Choice(NamedTuple):
    id: uuid.UUID
    name: str
    currency: str


def _choices(scoped: bool) -> written.Written:
    stmt = select(Campaign.id, Campaign.name, Campaign.currency).where(
        Campaign.organization_id == bindparam("org", None, type_=Uuid())
    )
    if scoped:
        uuids: ARRAY[uuid.UUID] = ARRAY(Uuid())
        stmt = stmt.where(Campaign.id == any_(bindparam("only", None, type_=uuids)))
    order = stmt.order_by(func.lower(Campaign.name), Campaign.id)
    return written.write_out(order.limit(bindparam("limit", None, type_=Integer())))


# Written out once per shape (all of the organization's campaigns, or some of them): every
# filter of the dashboard's pages asks.
_CHOICES = {scoped: _choices(scoped) for scoped in (False, True)}


async def choices(
    session: AsyncSession, org: uuid.UUID, limit: int, only: frozenset[uuid.UUID] | None = None
) -> list[Choice]:
    """The first `limit` campaigns by name (id, name, currency), for a page's campaign
    filter: rows, not objects (a hundred ORM objects cost a page more than its query), read
    on the driver (see app.repositories.written)."""
    values: dict[str, Any] = {"org": org, "limit": limit}
    if only is not None:
        values["only"] = sorted(only)
    rows = await written.fetch(session, _CHOICES[only is not None], values)
    return [Choice(*row) for row in rows]


class Shown(NamedTuple):
    """What a post's page shows around the post: its campaign, its creator's handle and its
    tier (None for a creator or tier that is not the organization's or the campaign's)."""

    campaign: Choice
    handle: str | None
    tier: tier_repo.Choice | None


def _uuid(name: str) -> Any:
    return bindparam(name, None, type_=Uuid())


# Written out once: every post's page reads it (as ORM objects it cost a page 1 ms of CPU),
# joined to the post's stats series (app.repositories.post_page_reads).
_SHOWN_COLUMNS = (
    *(Campaign.id, Campaign.name, Campaign.currency),  # a Choice
    Creator.handle,
    *(CpmTier.id, CpmTier.campaign_id, CpmTier.name, CpmTier.cpm, CpmTier.cap),  # the tier's
)
SHOWN = written.write_out(
    select(*_SHOWN_COLUMNS)
    .select_from(Campaign)
    .outerjoin(
        Creator,
        and_(Creator.id == _uuid("creator"), Creator.organization_id == _uuid("org")),
    )
    .outerjoin(
        CpmTier,
        and_(
            CpmTier.id == _uuid("tier"),
            CpmTier.campaign_id == Campaign.id,
            CpmTier.organization_id == _uuid("org"),
        ),
    )
    .where(Campaign.id == _uuid("campaign"), Campaign.organization_id == _uuid("org"))
)


SHOWN_COLUMNS = len(_SHOWN_COLUMNS)


def shown(row: Sequence[Any]) -> Shown:
    """A row of SHOWN's columns (the first SHOWN_COLUMNS of a longer row)."""
    tier = None if row[4] is None else tier_repo.Choice(*row[4:SHOWN_COLUMNS])
    return Shown(Choice(*row[:3]), row[3], tier)


async def by_ids(
    session: AsyncSession, org: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Campaign]:
    stmt = select(Campaign).where(Campaign.organization_id == org, Campaign.id.in_(set(ids)))
    return {c.id: c for c in await session.scalars(stmt)}


async def create(session: AsyncSession, org: uuid.UUID, fields: dict[str, Any]) -> Campaign:
    campaign = Campaign(organization_id=org, **fields)
    session.add(campaign)
    await session.flush()
    await session.refresh(campaign)
    return campaign


async def has_locked_posts(session: AsyncSession, campaign_id: uuid.UUID) -> bool:
    """Whether any post of the campaign has locked earnings (finalized or paid)."""
    stmt = select(exists().where(Post.campaign_id == campaign_id, Post.status.in_(LOCKED)))
    return bool(await session.scalar(stmt))


async def lock_posts_and_count_decided(session: AsyncSession, campaign_id: uuid.UUID) -> int:
    """Lock the campaign's posts (id order) and count those no longer tracking."""
    statuses = await session.scalars(
        select(Post.status)
        .where(Post.campaign_id == campaign_id)
        .order_by(Post.id)
        .with_for_update()
    )
    return sum(status is not PostStatus.TRACKING for status in statuses)


async def update(session: AsyncSession, campaign: Campaign, changes: dict[str, Any]) -> Campaign:
    return await save_changes(session, campaign, changes)


async def delete(session: AsyncSession, campaign: Campaign) -> None:
    await session.delete(campaign)
    await session.flush()
