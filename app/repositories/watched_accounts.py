"""Watched accounts' queries: the API's, and the watch job's claim and write-back."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import Platform
from app.models import Campaign, CampaignMember, Creator, WatchedAccount
from app.repositories.common import get_owned, save_changes
from app.repositories.pagination import Sort, fetch_page


async def get(
    session: AsyncSession, org: uuid.UUID, campaign_id: uuid.UUID, watch_id: uuid.UUID
) -> WatchedAccount | None:
    """One of the campaign's own watches, or None."""
    watch = await get_owned(session, WatchedAccount, org, watch_id)
    if watch is None or watch.campaign_id != campaign_id:
        return None
    return watch


async def list_page(
    session: AsyncSession,
    org: uuid.UUID,
    campaign_id: uuid.UUID,
    creator_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[WatchedAccount], str | None]:
    """Oldest first."""
    stmt = select(WatchedAccount).where(
        WatchedAccount.organization_id == org, WatchedAccount.campaign_id == campaign_id
    )
    if creator_id is not None:
        stmt = stmt.where(WatchedAccount.creator_id == creator_id)
    return await fetch_page(session, stmt, WatchedAccount.id, Sort(None, False), cursor, limit)


async def create(session: AsyncSession, fields: Mapping[str, Any]) -> WatchedAccount:
    watch = WatchedAccount(**fields)
    session.add(watch)
    await session.flush()  # a second watch of the creator here: watch_exists (409)
    await session.refresh(watch)
    return watch


async def update_watch(
    session: AsyncSession, watch: WatchedAccount, changes: dict[str, Any]
) -> WatchedAccount:
    return await save_changes(session, watch, changes)


async def delete(session: AsyncSession, watch: WatchedAccount) -> None:
    await session.delete(watch)
    await session.flush()


@dataclass(frozen=True)
class DueWatch:
    """A claimed watch with what checking it needs."""

    id: uuid.UUID
    organization_id: uuid.UUID
    campaign_id: uuid.UUID
    creator_id: uuid.UUID
    platform: Platform
    handle: str
    platform_user_id: str | None
    initial_import: int
    initial_done: bool
    include_hashtags: list[str]
    exclude_hashtags: list[str]
    started_at: datetime
    seen_through: datetime | None
    consecutive_failures: int
    starts_on: date | None
    ends_on: date | None
    lease: datetime


async def claim(
    session: AsyncSession, platform: Platform, now: datetime, limit: int, lease: timedelta
) -> list[DueWatch]:
    """Enabled watches of the platform that are due, most overdue first, under a lease
    (FOR UPDATE SKIP LOCKED: two workers never check the same account at once)."""
    due = (
        select(WatchedAccount.id)
        .where(
            WatchedAccount.platform == platform,
            WatchedAccount.enabled,
            WatchedAccount.next_check_at <= now,
            (WatchedAccount.lease_expires_at.is_(None)) | (WatchedAccount.lease_expires_at < now),
        )
        .order_by(WatchedAccount.next_check_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    until = now + lease
    claimed = (
        update(WatchedAccount)
        .where(WatchedAccount.id.in_(due))
        .values(lease_expires_at=until)
        .returning(WatchedAccount.id)
        .cte("claimed")
    )
    stmt = (
        select(
            WatchedAccount.id,
            WatchedAccount.organization_id,
            WatchedAccount.campaign_id,
            WatchedAccount.creator_id,
            WatchedAccount.platform,
            Creator.handle,
            Creator.platform_user_id,
            WatchedAccount.initial_import,
            WatchedAccount.initial_done,
            WatchedAccount.include_hashtags,
            WatchedAccount.exclude_hashtags,
            WatchedAccount.started_at,
            WatchedAccount.seen_through,
            WatchedAccount.consecutive_failures,
            Campaign.starts_on,
            Campaign.ends_on,
        )
        .join(claimed, claimed.c.id == WatchedAccount.id)
        .join(Creator, Creator.id == WatchedAccount.creator_id)
        .join(Campaign, Campaign.id == WatchedAccount.campaign_id)
        .order_by(WatchedAccount.next_check_at, WatchedAccount.id)
    )
    return [DueWatch(**row._mapping, lease=until) for row in await session.execute(stmt)]


async def release(session: AsyncSession, watch_ids: list[uuid.UUID]) -> None:
    if watch_ids:
        await session.execute(
            update(WatchedAccount)
            .where(WatchedAccount.id.in_(watch_ids))
            .values(lease_expires_at=None)
        )


@dataclass(frozen=True)
class CheckResult:
    """What one check of a watch wrote back."""

    outcome: str
    error: str | None
    failures: int
    next_check_at: datetime
    seen_through: datetime | None
    initial_done: bool
    seen: int
    added: int
    skipped: Mapping[str, int]


async def record_check(
    session: AsyncSession, watch: DueWatch, result: CheckResult, now: datetime
) -> bool:
    """The check's outcome and counts on the watch, if its lease still holds; False if
    another worker took it over (nothing written)."""
    skipped: ColumnElement[Any] = WatchedAccount.__table__.c.skipped
    for reason, n in result.skipped.items():
        if n:
            current = func.coalesce(WatchedAccount.skipped[reason].as_integer(), 0)
            skipped = skipped.op("||")(func.jsonb_build_object(reason, current + n))
    written = await session.execute(
        update(WatchedAccount)
        .where(WatchedAccount.id == watch.id, WatchedAccount.lease_expires_at == watch.lease)
        .values(
            last_checked_at=now,
            next_check_at=result.next_check_at,
            lease_expires_at=None,
            last_outcome=result.outcome,
            last_error=result.error,
            consecutive_failures=result.failures,
            seen_through=result.seen_through,
            initial_done=result.initial_done,
            videos_seen=WatchedAccount.videos_seen + result.seen,
            videos_added=WatchedAccount.videos_added + result.added,
            skipped=skipped,
        )
        .returning(WatchedAccount.id)
    )
    return written.first() is not None


async def enabled_counts(session: AsyncSession) -> dict[Platform, int]:
    """Enabled watches per platform (the capacity figures count their listings)."""
    rows = await session.execute(
        select(WatchedAccount.platform, func.count())
        .where(WatchedAccount.enabled)
        .group_by(WatchedAccount.platform)
    )
    return {Platform(p): n for p, n in rows}


async def for_creator(
    session: AsyncSession,
    org: uuid.UUID,
    creator_id: uuid.UUID,
    only: frozenset[uuid.UUID] | None,
) -> list[tuple[WatchedAccount, str]]:
    """The creator's watches with their campaign's name, in the campaigns `only` names (all
    of the organization's when None), oldest first."""
    stmt = (
        select(WatchedAccount, Campaign.name)
        .join(Campaign, Campaign.id == WatchedAccount.campaign_id)
        .where(WatchedAccount.organization_id == org, WatchedAccount.creator_id == creator_id)
        .order_by(WatchedAccount.id)
    )
    if only is not None:
        stmt = stmt.where(WatchedAccount.campaign_id.in_(sorted(only)))
    return [(w, name) for w, name in (await session.execute(stmt)).all()]


async def unwatched_memberships(
    session: AsyncSession,
    org: uuid.UUID,
    creator_id: uuid.UUID,
    only: frozenset[uuid.UUID] | None,
) -> list[tuple[uuid.UUID, str]]:
    """The campaigns the creator is a member of and not watched in: (id, name)."""
    watched = select(WatchedAccount.campaign_id).where(WatchedAccount.creator_id == creator_id)
    stmt = (
        select(Campaign.id, Campaign.name)
        .join(CampaignMember, CampaignMember.campaign_id == Campaign.id)
        .where(
            Campaign.organization_id == org,
            CampaignMember.creator_id == creator_id,
            Campaign.id.not_in(watched),
        )
        .order_by(Campaign.name, Campaign.id)
    )
    if only is not None:
        stmt = stmt.where(Campaign.id.in_(sorted(only)))
    return [(cid, name) for cid, name in (await session.execute(stmt)).all()]


async def get_in_org(
    session: AsyncSession, org: uuid.UUID, watch_id: uuid.UUID
) -> WatchedAccount | None:
    return await get_owned(session, WatchedAccount, org, watch_id)
