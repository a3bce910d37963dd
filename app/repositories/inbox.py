"""What waits for a person, oldest first: open holds, open flags, `pending_cpm` posts,
posts the platform keeps refusing, and bulk import lines that failed. Each kind is read
up to a cap through an index that starts at the organization (migration 0022), and counted
up to a bound, so the inbox costs the same at any size. `only`: the campaigns the caller
may read (None: all of the organization's)."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain import attention
from app.domain.enums import PostStatus
from app.models import (
    Campaign,
    CpmTier,
    Creator,
    Post,
    PostFlag,
    PostHold,
    PostImport,
    PostImportLine,
)

# Any statement of this module (its columns vary by kind).
Q = Select[*tuple[Any, ...]]

# Counted up to this many per kind; past it the inbox says "1,000+".
COUNT_BOUND = 1000


@dataclass(frozen=True)
class Item:
    """One thing waiting: its post (None for an import line), who and where, and the hold,
    flag or import line it is about (None for a pending_cpm or refused post)."""

    post: Post | None
    handle: str
    campaign: Campaign
    mark: PostHold | PostFlag | PostImportLine | None = None


@dataclass(frozen=True)
class Kind:
    items: list[Item]
    count: int  # up to COUNT_BOUND + 1

    @property
    def more(self) -> int:
        return max(self.count - len(self.items), 0)


def _scoped(stmt: Q, org: uuid.UUID, only: frozenset[uuid.UUID] | None) -> Q:
    stmt = stmt.where(Post.organization_id == org)
    return stmt if only is None else stmt.where(Post.campaign_id.in_(only))


def _posts(org: uuid.UUID, only: frozenset[uuid.UUID] | None, *where: Any) -> Q:
    stmt: Q = (
        select(Post, Creator.handle, Campaign)
        .join(Creator, Creator.id == Post.creator_id)
        .join(Campaign, Campaign.id == Post.campaign_id)
        .where(*where)
    )
    return _scoped(stmt, org, only)


async def _kind(session: AsyncSession, stmt: Q, order: Any, cap: int) -> Kind:
    rows = (await session.execute(stmt.order_by(order).limit(cap))).all()
    items = [Item(row[0], row[1], row[2], row[3] if len(row) > 3 else None) for row in rows]
    return Kind(items, await _count(session, stmt))


async def _count(session: AsyncSession, stmt: Q) -> int:
    bounded = stmt.with_only_columns(Post.id).limit(COUNT_BOUND + 1).subquery()
    return int(await session.scalar(select(func.count()).select_from(bounded)) or 0)


def _open_holds(org: uuid.UUID, only: frozenset[uuid.UUID] | None) -> Q:
    return (
        _posts(org, only, PostHold.cleared_at.is_(None), PostHold.organization_id == org)
        .add_columns(PostHold)
        .join(PostHold, PostHold.post_id == Post.id)
    )


def _open_flags(org: uuid.UUID, only: frozenset[uuid.UUID] | None) -> Q:
    return (
        _posts(org, only, PostFlag.resolved_at.is_(None), PostFlag.organization_id == org)
        .add_columns(PostFlag)
        .join(PostFlag, PostFlag.post_id == Post.id)
    )


def _pending_cpm(org: uuid.UUID, only: frozenset[uuid.UUID] | None) -> Q:
    return _posts(org, only, Post.status == PostStatus.PENDING_CPM)


def _refused(org: uuid.UUID, only: frozenset[uuid.UUID] | None) -> Q:
    """Posts whose last fetch the platform refused; a rejected post is not fetched again,
    so it waits for no one."""
    return _posts(
        org,
        only,
        Post.last_error_code.in_(attention.REFUSALS),
        Post.status != PostStatus.REJECTED,
    )


def _failed_lines(org: uuid.UUID, only: frozenset[uuid.UUID] | None, now: datetime) -> Q:
    """Lines not added, of the imports of the last few days (attention.FAILED_LINES_FOR)."""
    stmt: Q = (
        select(PostImportLine, Campaign)
        .join(PostImport, PostImport.id == PostImportLine.import_id)
        .join(Campaign, Campaign.id == PostImport.campaign_id)
        .where(
            PostImport.organization_id == org,
            PostImport.created_at > now - attention.FAILED_LINES_FOR,
            PostImportLine.outcome.is_not(None),
            PostImportLine.outcome.not_in(attention.IMPORT_SETTLED),
        )
    )
    return stmt if only is None else stmt.where(PostImport.campaign_id.in_(only))


@dataclass(frozen=True)
class Inbox:
    holds: Kind
    flags: Kind
    pending_cpm: Kind
    refused: Kind
    failed_lines: Kind
    # The tiers of the campaigns of the pending_cpm posts shown, by campaign, by name.
    tiers: dict[uuid.UUID, list[CpmTier]]

    @property
    def total(self) -> int:
        return sum(k.count for k in self.kinds())

    def kinds(self) -> tuple[Kind, ...]:
        return (self.holds, self.flags, self.pending_cpm, self.refused, self.failed_lines)


async def read(
    session: AsyncSession,
    org: uuid.UUID,
    only: frozenset[uuid.UUID] | None,
    now: datetime,
    cap: int,
) -> Inbox:
    """Each kind's oldest `cap` items, and how many there are (up to the bound)."""
    holds = await _kind(session, _open_holds(org, only), PostHold.id, cap)
    flags = await _kind(session, _open_flags(org, only), PostFlag.id, cap)
    pending = await _kind(session, _pending_cpm(org, only), Post.id, cap)
    refused = await _kind(session, _refused(org, only), Post.id, cap)
    lines_stmt = _failed_lines(org, only, now)
    line_rows = (
        await session.execute(
            lines_stmt.order_by(PostImportLine.import_id, PostImportLine.line).limit(cap)
        )
    ).all()
    bounded = lines_stmt.with_only_columns(PostImportLine.line).limit(COUNT_BOUND + 1)
    line_count = int(
        await session.scalar(select(func.count()).select_from(bounded.subquery())) or 0
    )
    lines = Kind([Item(None, "", campaign, line) for line, campaign in line_rows], line_count)
    campaigns = {item.campaign.id for item in pending.items}
    tiers: dict[uuid.UUID, list[CpmTier]] = {c: [] for c in campaigns}
    if campaigns:
        for tier in await session.scalars(
            select(CpmTier).where(CpmTier.campaign_id.in_(campaigns)).order_by(CpmTier.name)
        ):
            tiers[tier.campaign_id].append(tier)
    return Inbox(holds, flags, pending, refused, lines, tiers)


async def count(
    session: AsyncSession, org: uuid.UUID, only: frozenset[uuid.UUID] | None, now: datetime
) -> int:
    """How many things wait (each kind counted up to the bound): the navigation's number."""
    kinds = (_open_holds(org, only), _open_flags(org, only), _pending_cpm(org, only))
    total = 0
    for stmt in (*kinds, _refused(org, only)):
        total += await _count(session, stmt)
    bounded = _failed_lines(org, only, now).with_only_columns(PostImportLine.line)
    bounded = bounded.limit(COUNT_BOUND + 1)
    total += int(await session.scalar(select(func.count()).select_from(bounded.subquery())) or 0)
    return total
