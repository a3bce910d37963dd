"""Queries of payout batches and what is ready to pay (the creator portal's are portal.py).
Every statement is scoped to one organization (or to a payout or creator already found in
one)."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Select,
    func,
    insert,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.enums import PayoutStatus, PostStatus
from app.domain.errors import InvalidCursor
from app.models import (
    Campaign,
    CpmTier,
    Creator,
    Payout,
    PayoutLine,
    Post,
    PostEvent,
)
from app.repositories import transitions
from app.repositories.pagination import (
    Sort,
    decode_cursor,
    encode_cursor,
    fetch_page,
    statement_digest,
)


class ReadyFilters(Protocol):
    """Which ready posts: by campaign, creator, and finalized before a moment (the API's
    body and query satisfy it as they are)."""

    @property
    def campaign_id(self) -> uuid.UUID | None: ...
    @property
    def creator_id(self) -> uuid.UUID | None: ...
    @property
    def finalized_before(self) -> datetime | None: ...


def _sums(locked_views: Any, amount: Any) -> tuple[Any, ...]:
    """The sums of one creator's group of posts (per currency): posts, views, amount."""
    return (
        func.count().label("posts"),
        func.sum(locked_views).label("locked_views"),
        func.sum(amount).label("amount"),
    )


def _ready(
    org: uuid.UUID, filters: ReadyFilters | None, only: frozenset[uuid.UUID] | None = None
) -> list[ColumnElement[bool]]:
    where = [Post.organization_id == org, transitions.payable_by_a_new_batch()]
    if only is not None:  # a restricted caller's campaigns
        where.append(Post.campaign_id.in_(sorted(only)))
    if filters is not None:
        if filters.campaign_id is not None:
            where.append(Post.campaign_id == filters.campaign_id)
        if filters.creator_id is not None:
            where.append(Post.creator_id == filters.creator_id)
        if filters.finalized_before is not None:
            where.append(Post.finalized_at < filters.finalized_before)
    return where


async def ready_page(
    session: AsyncSession,
    org: uuid.UUID,
    filters: ReadyFilters,
    cursor: str | None,
    limit: int,
    *,
    only: frozenset[uuid.UUID] | None = None,
) -> tuple[Sequence[Any], str | None]:
    """Ready posts summed per creator and currency, a page of groups in (creator, currency)
    order. The keyset condition is on the group's key, so it filters rows before grouping.
    The posts are summed before the creators are joined: PostgreSQL cannot estimate the
    open-payout guard, and joining first had it compare every ready post with every creator
    (seconds for an organization of 100,000 posts)."""
    grouped = (
        select(Post.creator_id, Campaign.currency, *_sums(Post.locked_views, Post.earnings))
        .join(Campaign, Campaign.id == Post.campaign_id)
        .where(*_ready(org, filters, only))
        .group_by(Post.creator_id, Campaign.currency)
    )

    def page(groups: Any) -> Any:
        lines = groups.subquery("lines")
        return (
            select(
                lines.c.creator_id,
                Creator.handle.label("creator_handle"),
                Creator.platform,
                lines.c.currency,
                lines.c.posts,
                lines.c.locked_views,
                lines.c.amount,
            )
            .join(Creator, Creator.id == lines.c.creator_id)
            .order_by(lines.c.creator_id, lines.c.currency)
        )

    bound_to = statement_digest(page(grouped))  # a cursor only continues the list it came from
    if cursor is not None:
        after_creator, after_currency = decode_cursor(cursor, 2, bound_to)
        try:
            after = (uuid.UUID(str(after_creator)), str(after_currency))
        except ValueError:
            raise InvalidCursor from None
        grouped = grouped.where(tuple_(Post.creator_id, Campaign.currency) > tuple_(*after))
    rows = (await session.execute(page(grouped).limit(limit + 1))).all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor([str(rows[-1].creator_id), rows[-1].currency], bound_to)


async def ready_posts(
    session: AsyncSession,
    org: uuid.UUID,
    filters: ReadyFilters,
    currency: str | None,
    cursor: str | None,
    limit: int,
    *,
    only: frozenset[uuid.UUID] | None = None,
) -> tuple[Sequence[Any], str | None]:
    """The posts behind ready_page's lines, in the lines' order (creator, currency), then by
    post id."""
    stmt = (
        select(
            Post.id.label("post_id"),
            Post.creator_id,
            Creator.handle.label("creator_handle"),
            Creator.platform,
            Post.campaign_id,
            Campaign.name.label("campaign"),
            Post.url,
            Post.platform_post_id,
            Campaign.currency,
            Post.locked_views,
            Post.earnings,
            Post.finalized_at,
        )
        .join(Campaign, Campaign.id == Post.campaign_id)
        .join(Creator, Creator.id == Post.creator_id)
        .where(*_ready(org, filters, only))
        .order_by(Post.creator_id, Campaign.currency, Post.id)
    )
    if currency is not None:
        stmt = stmt.where(Campaign.currency == currency)
    bound_to = statement_digest(stmt)
    if cursor is not None:
        after_creator, after_currency, after_post = decode_cursor(cursor, 3, bound_to)
        try:
            after = (uuid.UUID(str(after_creator)), str(after_currency), uuid.UUID(str(after_post)))
        except ValueError:
            raise InvalidCursor from None
        stmt = stmt.where(tuple_(Post.creator_id, Campaign.currency, Post.id) > tuple_(*after))
    rows = (await session.execute(stmt.limit(limit + 1))).all()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor([str(last.creator_id), last.currency, str(last.post_id)], bound_to)


def _per_currency(amount: Any) -> tuple[Any, ...]:
    return (Campaign.currency, func.count().label("posts"), func.sum(amount).label("amount"))


async def pulse(
    session: AsyncSession,
    org: uuid.UUID,
    month_start: datetime,
    *,
    only: frozenset[uuid.UUID] | None = None,
) -> dict[str, Any]:
    """Where the money stands: pending CPM (posts, locked views), and per currency what is
    ready, in open batches and paid since `month_start` (by a batch or one by one)."""

    def mine(column: Any) -> list[ColumnElement[bool]]:
        return [] if only is None else [column.in_(sorted(only))]

    pending = (
        await session.execute(
            select(
                func.count().label("posts"),
                func.coalesce(func.sum(Post.locked_views), 0).label("locked_views"),
            ).where(
                Post.organization_id == org,
                Post.status == PostStatus.PENDING_CPM,
                *mine(Post.campaign_id),
            )
        )
    ).one()

    def by_currency(stmt: Select[Any]) -> Select[Any]:
        return stmt.group_by(Campaign.currency).order_by(Campaign.currency)

    ready = by_currency(
        select(*_per_currency(Post.earnings))
        .join(Campaign, Campaign.id == Post.campaign_id)
        .where(*_ready(org, None, only))
    )
    in_open = (
        select(
            PayoutLine.currency,
            func.count().label("posts"),
            func.sum(PayoutLine.amount).label("amount"),
        )
        .join(Payout, Payout.id == PayoutLine.payout_id)
        .where(
            PayoutLine.organization_id == org,
            Payout.status == PayoutStatus.OPEN,
            *mine(PayoutLine.campaign_id),
        )
        .group_by(PayoutLine.currency)
        .order_by(PayoutLine.currency)
    )
    paid = by_currency(
        select(*_per_currency(Post.earnings))
        .join(Campaign, Campaign.id == Post.campaign_id)
        .where(
            Post.organization_id == org,
            Post.status == PostStatus.PAID,
            Post.paid_at >= month_start,
            *mine(Post.campaign_id),
        )
    )
    return {
        "pending_cpm": pending,
        "ready": (await session.execute(ready)).all(),
        "in_open_batches": (await session.execute(in_open)).all(),
        "paid_this_month": (await session.execute(paid)).all(),
        "month_start": month_start,
    }


async def add_lines(
    session: AsyncSession,
    org: uuid.UUID,
    payout_id: uuid.UUID,
    filters: ReadyFilters | None,
    post_ids: Sequence[uuid.UUID] | None,
    at_most: int,
    *,
    only: frozenset[uuid.UUID] | None = None,
) -> list[uuid.UUID]:
    """Fixes the ready posts of the selection into the batch, amounts and views as they are
    now, in one statement; returns the posts taken (at most `at_most` + 1, so the caller can
    tell a selection that is too large). A post another batch takes at the same moment
    violates payout_lines_open_post_id_key: the database keeps a post in one open batch."""
    where = _ready(org, filters, only)
    if post_ids is not None:
        where.append(Post.id.in_(post_ids))
    chosen = (
        select(
            literal(org),
            literal(payout_id),
            Post.id,
            Post.creator_id,
            Post.campaign_id,
            Campaign.currency,
            Post.locked_views,
            Post.earnings,
        )
        .join(Campaign, Campaign.id == Post.campaign_id)
        .where(*where)
        .order_by(Post.id)
        .limit(at_most + 1)
        # Locks the posts it takes (in id order, as every writer of several posts does): a
        # post paid on its own meanwhile is re-checked after that commits and left out, and
        # a single mark-paid waits for this batch and then sees it (post_in_open_payout).
        .with_for_update(of=Post)
    )
    stmt = (
        insert(PayoutLine)
        .from_select(
            [
                PayoutLine.organization_id,
                PayoutLine.payout_id,
                PayoutLine.post_id,
                PayoutLine.creator_id,
                PayoutLine.campaign_id,
                PayoutLine.currency,
                PayoutLine.locked_views,
                PayoutLine.amount,
            ],
            chosen,
        )
        .returning(PayoutLine.post_id)
    )
    return list((await session.scalars(stmt)).all())


def _all_within(only: frozenset[uuid.UUID]) -> ColumnElement[bool]:
    """A batch every line of which is a post of these campaigns (a restricted caller's)."""
    return ~(
        select(PayoutLine.post_id)
        .where(PayoutLine.payout_id == Payout.id, PayoutLine.campaign_id.not_in(sorted(only)))
        .exists()
    )


async def get(
    session: AsyncSession,
    org: uuid.UUID,
    payout_id: uuid.UUID,
    *,
    for_update: bool = False,
    only: frozenset[uuid.UUID] | None = None,
) -> Payout | None:
    """`only`: None unless every post of the batch is in these campaigns."""
    stmt = select(Payout).where(Payout.organization_id == org, Payout.id == payout_id)
    if only is not None:
        stmt = stmt.where(_all_within(only))
    if for_update:
        stmt = stmt.with_for_update()
    return await session.scalar(stmt)


async def list_page(
    session: AsyncSession,
    org: uuid.UUID,
    status: PayoutStatus | None,
    cursor: str | None,
    limit: int,
    *,
    only: frozenset[uuid.UUID] | None = None,
) -> tuple[Sequence[Payout], str | None]:
    """Newest first (ids are UUIDv7, creation order). `only`: the batches whose posts are
    all in these campaigns."""
    stmt: Select[Any] = select(Payout).where(Payout.organization_id == org)
    if only is not None:
        stmt = stmt.where(_all_within(only))
    if status is not None:
        stmt = stmt.where(Payout.status == status)
    rows, next_cursor = await fetch_page(session, stmt, Payout.id, Sort(None, True), cursor, limit)
    return rows, next_cursor


async def currency_totals(
    session: AsyncSession, payout_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[Any]]:
    """Per payout: (currency, posts, amount) rows, one query for a whole page."""
    stmt = (
        select(
            PayoutLine.payout_id,
            PayoutLine.currency,
            func.count().label("posts"),
            func.sum(PayoutLine.amount).label("amount"),
        )
        .where(PayoutLine.payout_id.in_(payout_ids))
        .group_by(PayoutLine.payout_id, PayoutLine.currency)
        .order_by(PayoutLine.payout_id, PayoutLine.currency)
    )
    out: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in (await session.execute(stmt)).all():
        out[row.payout_id].append(row)
    return out


async def creator_totals(session: AsyncSession, payout_id: uuid.UUID) -> Sequence[Any]:
    stmt = (
        select(
            PayoutLine.creator_id,
            Creator.handle.label("creator_handle"),
            Creator.platform,
            Creator.platform_user_id,
            PayoutLine.currency,
            *_sums(PayoutLine.locked_views, PayoutLine.amount),
        )
        .join(Creator, Creator.id == PayoutLine.creator_id)
        .where(PayoutLine.payout_id == payout_id)
        .group_by(PayoutLine.creator_id, Creator.id, PayoutLine.currency)
        .order_by(func.lower(Creator.handle), PayoutLine.creator_id, PayoutLine.currency)
    )
    return (await session.execute(stmt)).all()


async def lock_posts(session: AsyncSession, payout_id: uuid.UUID) -> Sequence[Any]:
    """The batch's posts (id, status, open holds), locked in id order (so two payers of
    overlapping posts cannot deadlock) until the transaction ends."""
    stmt = (
        select(Post.id, Post.status, Post.open_holds)
        .join(PayoutLine, PayoutLine.post_id == Post.id)
        .where(PayoutLine.payout_id == payout_id)
        .order_by(Post.id)
        .with_for_update(of=Post)
    )
    return (await session.execute(stmt)).all()


async def release(session: AsyncSession, payout_id: uuid.UUID) -> None:
    await session.execute(
        update(PayoutLine).where(PayoutLine.payout_id == payout_id).values(released=True)
    )


def _decided_terms(key: str) -> Any:
    """A term ("cpm" or "cap") of the tier as its finalization copied it into the evidence
    (later tier edits never change it); the tier's current term for a post decided before
    evidence was kept."""
    copied = (
        select(PostEvent.evidence["tier"][key].astext.cast(Numeric))
        .where(
            PostEvent.post_id == Post.id,
            PostEvent.to_status == PostStatus.FINALIZED,
            PostEvent.evidence.is_not(None),
        )
        .order_by(PostEvent.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    current = CpmTier.cpm if key == "cpm" else CpmTier.cap
    return func.coalesce(copied, current)


async def export_rows(session: AsyncSession, payout_id: uuid.UUID) -> Sequence[Any]:
    """One row per post, by creator then campaign then publish time: what a payer reads.
    Views and amounts are the batch's own (fixed at creation); cpm and cap are the tier's
    terms as the post's finalization recorded them."""
    stmt = (
        select(
            Post.id.label("post_id"),
            Creator.handle.label("creator_handle"),
            Creator.platform,
            Creator.platform_user_id,
            Campaign.name.label("campaign"),
            Post.url,
            Post.platform_post_id,
            Post.published_at,
            PayoutLine.locked_views,
            Post.locked_observed_at.label("observed_at"),
            _decided_terms("cpm").label("cpm"),
            _decided_terms("cap").label("cap"),
            PayoutLine.amount,
            PayoutLine.currency,
            Post.finalized_at,
        )
        .join(Post, Post.id == PayoutLine.post_id)
        .join(Creator, Creator.id == PayoutLine.creator_id)
        .join(Campaign, Campaign.id == PayoutLine.campaign_id)
        .outerjoin(CpmTier, CpmTier.id == Post.cpm_tier_id)
        .where(PayoutLine.payout_id == payout_id)
        .order_by(
            func.lower(Creator.handle),
            Creator.id,
            PayoutLine.currency,
            Campaign.name,
            Post.published_at,
            Post.id,
        )
    )
    return (await session.execute(stmt)).all()
